package testenv

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/fake"
)

// Deps is what the package in the test's directory links: `go list -deps`
// of it, the package itself last, the standard library's packages only
// with standard. A list that does not end with a package of ours (go list
// printed nothing, or something else) fails the test, so a test that walks
// it cannot pass by seeing nothing.
func Deps(t testing.TB, standard bool) []string {
	t.Helper()
	out, err := exec.Command(fake.GoTool(), "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if self := strings.Fields(lines[len(lines)-1]); len(self) != 2 || self[1] != "false" || !strings.HasPrefix(self[0], "github.com/enroot-agent/enroot-agent/") {
		t.Fatalf("go list -deps did not end with the package under test:\n%s", out)
	}
	var deps []string
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) == 2 && (standard || f[1] == "false") {
			deps = append(deps, f[0])
		}
	}
	return deps
}
