// Package scripts holds the repository's shell scripts; its test lints them.
package scripts

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/fake"
)

// shellShebang matches the interpreters shellcheck understands.
var shellShebang = regexp.MustCompile(`^#!\s*(/usr)?/bin/(env\s+)?(ba|da|k)?sh(\s|$)`)

// TestShellcheck runs shellcheck on every tracked shell script: files named
// *.sh, *.bash and any tracked file whose shebang names a shell.
func TestShellcheck(t *testing.T) {
	shellcheck, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatal("shellcheck is missing: apt-get install shellcheck (scripts/test-deps.sh does)")
	}
	scripts := shellScripts(t)
	if len(scripts) == 0 {
		t.Fatal("found no shell scripts; git ls-files is not seeing the repository")
	}
	for _, s := range scripts {
		cmd := exec.Command(shellcheck, "--external-sources", "--severity=style", s)
		cmd.Dir = fake.ModuleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("shellcheck %s: %v\n%s", s, err, out)
		}
	}
}

func shellScripts(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = fake.ModuleRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v (install git)", err)
	}
	var scripts []string
	for _, f := range strings.Split(string(out), "\x00") {
		if f != "" && isShell(filepath.Join(fake.ModuleRoot(), f)) {
			scripts = append(scripts, f)
		}
	}
	return scripts
}

func isShell(path string) bool {
	if strings.HasSuffix(path, ".sh") || strings.HasSuffix(path, ".bash") {
		return true
	}
	f, err := os.Open(path)
	if err != nil {
		return false // deleted in the worktree but still in the index
	}
	defer f.Close()
	head := make([]byte, 128)
	n, _ := f.Read(head)
	line, _, _ := bytes.Cut(head[:n], []byte("\n"))
	return shellShebang.Match(line)
}
