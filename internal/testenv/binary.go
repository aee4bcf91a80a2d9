// Package testenv starts the real components and the AWS stand-ins that the
// tests and the demo run the agent against. Production code never imports it.
package testenv

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// Binary builds the real enroot-agent once per test process and returns its
// path, so end-to-end tests run exactly what ships: built as the Makefile
// builds the packages' binaries (CGO_ENABLED=0, -trimpath, the same -ldflags
// but the version), whatever the environment of `go test`. With cgo on, Go's
// os/user would use glibc's NSS and hide what the static binary cannot see
// (directory users, say), so a binary that is not static fails the test.
// The path is the front (cmd/enroot-agent-front) in DIR/bin, with the agent
// it execs at DIR/libexec/enroot-agent/enroot-agent, as the packages lay
// them out; a test that copies the front elsewhere gets the importer,
// `version` and `verify` through the daemon, not the agent.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "enroot-agent-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "bin", "enroot-agent")
		for pkg, out := range map[string]string{
			"./cmd/enroot-agent-front": binPath,
			"./cmd/enroot-agent":       filepath.Join(dir, "libexec", "enroot-agent", "enroot-agent"),
		} {
			cmd := exec.Command(GoTool(), "build", "-trimpath", "-ldflags", "-s -w -X main.version=test", "-o", out, pkg)
			cmd.Dir = ModuleRoot()
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if buildOut, buildErr = cmd.CombinedOutput(); buildErr == nil {
				buildErr = static(out)
			}
			if buildErr != nil {
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("build enroot-agent: %v\n%s", buildErr, buildOut)
	}
	return binPath
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
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
