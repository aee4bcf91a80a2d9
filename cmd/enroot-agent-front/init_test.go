package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// maxInitAllocs bounds what a package of this module may allocate in its
// initialiser, in either binary. A table or regular expression computed
// at init costs far more: compiling even `^nvidia[0-9]+$` makes 51
// allocations, a map literal of a dozen entries 6; a value the compiler
// lays out in the binary (a slice or struct literal of constants, an
// errors.New sentinel, a lazyre.Regexp before its first use) makes none.
// 4 leaves room for a small map or one sync.OnceValue (2 allocations each)
// and nothing more: what needs computing is computed on first use.
const maxInitAllocs = 4

// Every process of either binary pays its packages' initialisers before
// main runs: the front at every container start of every job, the agent at
// every apply, refresh and verify (issue 25). No package of this module
// does work there that a value computed on first use would not do.
func TestInitDoesNoWork(t *testing.T) {
	front := testenv.Binary(t)
	for _, bin := range []string{front, filepath.Join(filepath.Dir(front), FullBinary)} {
		for pkg, allocs := range initAllocs(t, bin) {
			if pkg != "main" && !strings.HasPrefix(pkg, module) {
				continue
			}
			if allocs > maxInitAllocs {
				t.Errorf("%s: the initialiser of %s makes %d allocations, more than %d: a package computes what it needs on first use (sync.OnceValue, lazyre.New) or lays it out as constants", filepath.Base(bin), pkg, allocs, maxInitAllocs)
			}
		}
	}
}

// initAllocs runs bin version with the runtime's init trace and returns
// the allocations of each package that has an initialiser.
func initAllocs(t *testing.T, bin string) map[string]int {
	t.Helper()
	cmd := exec.Command(bin, "version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s version: %v\n%s", bin, err, stderr.String())
	}
	out := map[string]int{}
	for _, line := range strings.Split(stderr.String(), "\n") {
		// init <package> @<t> ms, <t> ms clock, <n> bytes, <n> allocs
		f := strings.Fields(line)
		if len(f) != 11 || f[0] != "init" || f[10] != "allocs" {
			continue
		}
		n, err := strconv.Atoi(f[9])
		if err != nil {
			t.Fatalf("%s: unreadable init trace line %q", bin, line)
		}
		out[f[1]] = n
	}
	if _, ok := out["runtime"]; !ok {
		t.Fatalf("%s: no init trace of the runtime in its stderr (GODEBUG=inittrace=1):\n%s", bin, stderr.String())
	}
	return out
}
