package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// A relative --root is the working directory's, never the host's /:
// `cd /tmp/x && enroot-agent --root build/rootfs refresh` once wrote
// /build/rootfs/run/enroot-agent/....
func TestRelativeRootIsUnderTheWorkingDirectory(t *testing.T) {
	work := t.TempDir()
	rel := fmt.Sprintf("enroot-agent-relroot-%d/rootfs", rand.Int64())
	host := "/" + filepath.Dir(rel)
	t.Cleanup(func() { os.RemoveAll(host) })
	cmd := exec.Command(testenv.Binary(t), "--root", rel, "refresh")
	cmd.Dir, cmd.Env = work, awsFor(t).env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("refresh: %v\n%s", err, out.String())
	}
	if _, err := os.Stat(host); !os.IsNotExist(err) {
		t.Fatalf("a relative --root wrote under the host's /: %s exists", host)
	}
	if _, err := os.Stat(filepath.Join(work, rel, "run/enroot-agent/enroot-config/.credentials")); err != nil {
		t.Fatalf("the credentials are not under the working directory's root: %v\n%s", err, out.String())
	}
}
