// Package testenv starts the real components and the AWS stand-ins that the
// tests and the demo run the agent against. Production code never imports it.
package testenv

import (
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
// path, so end-to-end tests run exactly what ships.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "enroot-agent-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "enroot-agent")
		cmd := exec.Command(GoTool(), "build", "-o", binPath, "./cmd/enroot-agent")
		cmd.Dir = ModuleRoot()
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build enroot-agent: %v\n%s", buildErr, buildOut)
	}
	return binPath
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
