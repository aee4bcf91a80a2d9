package fake

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

// BuildAgent builds the agent as the Makefile builds the packages'
// binaries (CGO_ENABLED=0, -trimpath, the same -ldflags but the version),
// laid out as the packages install them: the front (cmd/enroot-agent-front)
// at dir/bin/enroot-agent, the agent it execs at
// dir/libexec/enroot-agent/enroot-agent, and beside the agent the AWS helper
// it runs for each AWS call (cmd/enroot-agent-aws). It returns the front's
// path. A
// binary that is not static fails: with cgo on, Go's os/user would use
// glibc's NSS and hide what the static binary cannot see.
func BuildAgent(dir string) (string, error) {
	front := filepath.Join(dir, "bin", "enroot-agent")
	for _, b := range []struct{ pkg, out string }{
		{"./cmd/enroot-agent-front", front},
		{"./cmd/enroot-agent", filepath.Join(dir, "libexec", "enroot-agent", "enroot-agent")},
		{"./cmd/enroot-agent-aws", filepath.Join(dir, "libexec", "enroot-agent", "enroot-agent-aws")},
	} {
		cmd := exec.Command(GoTool(), "build", "-trimpath", "-ldflags", "-s -w -X main.version=test", "-o", b.out, b.pkg)
		cmd.Dir = ModuleRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if msg, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("build %s: %w\n%s", b.pkg, err, msg)
		}
		if err := static(b.out); err != nil {
			return "", err
		}
	}
	return front, nil
}

// static checks that bin asks for no dynamic loader, as the packaged binary.
func static(bin string) error {
	f, err := elf.Open(bin)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: the packages ship a static binary (CGO_ENABLED=0)", bin)
		}
	}
	return nil
}

// ModuleRoot is the repository root, found from this file's location.
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// GoTool is the go command of the toolchain running the tests, which CI may
// not have on PATH.
func GoTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}

// Eventually polls cond until it holds or timeout passes, and reports
// whether it held. Tests and fakes wait for what they need this way rather
// than sleeping for a timer inside the code under test: the deadline is
// generous (a loaded machine is slow), and a fast one does not wait for it.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(wait)
	}
}
