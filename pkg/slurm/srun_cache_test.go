package slurm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// A converged node asks srun once; an upgraded srun (a new file) is asked
// again and its new version is seen.
func TestSrunVersionCachedByIdentity(t *testing.T) {
	root := t.TempDir()
	bin := filepath.Join(root, "opt/slurm/bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	calls := filepath.Join(root, "calls")
	install := func(version string) {
		t.Helper()
		script := "#!/bin/sh\necho run >> " + calls + "\necho slurm " + version + "\n"
		tmp := filepath.Join(bin, ".srun.new")
		if err := os.WriteFile(tmp, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		// As a package manager does: a new file renamed over the old one.
		if err := os.Rename(tmp, filepath.Join(bin, "srun")); err != nil {
			t.Fatal(err)
		}
	}
	d := NewDetector() // one per daemon config
	detect := func() string {
		t.Helper()
		found, err := d.Detect(context.Background(), config.Root(root), "/opt/slurm")
		if err != nil {
			t.Fatal(err)
		}
		return found.Version
	}
	runs := func() int {
		data, _ := os.ReadFile(calls)
		return strings.Count(string(data), "run")
	}
	install("22.05.8")
	for range 3 {
		if v := detect(); v != "22.05.8" {
			t.Fatalf("version %q", v)
		}
	}
	if n := runs(); n != 1 {
		t.Fatalf("srun --version ran %d times for one binary, want 1", n)
	}
	install("22.05.9")
	if v := detect(); v != "22.05.9" {
		t.Fatalf("after the upgrade: version %q, want 22.05.9", v)
	}
	if n := runs(); n != 2 {
		t.Fatalf("srun --version ran %d times, want 2", n)
	}
}
