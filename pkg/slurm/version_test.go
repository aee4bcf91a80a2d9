package slurm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

func TestParseVersions(t *testing.T) {
	for in, want := range map[string]string{"slurm 23.11.4\n": "23.11.4", "slurm-wlm 22.05.8": "22.05.8", "srun: error: x": ""} {
		if got, _ := ParseSrunVersion(in); got != want {
			t.Errorf("srun %q: %q, want %q", in, got, want)
		}
	}
	h := "#ifndef X\n#define SLURM_VERSION_NUMBER 0x160508\n#define SLURM_VERSION_NUM(a,b,c) ...\n"
	if got, ok := ParseHeaderVersion(h); !ok || got != "22.05.8" {
		t.Fatalf("header: %q %v", got, ok)
	}
	if _, ok := ParseHeaderVersion("#define SLURM_VERSION_STRING \"22.05.8\"\n"); ok {
		t.Fatal("no number must not parse")
	}
}

func TestDetectSlurmHeadersAndMismatch(t *testing.T) {
	root := t.TempDir()
	r := config.Root(root)
	var d *Detector // nil: no cache, srun is asked every time
	if _, err := d.Detect(context.Background(), r, "/opt/slurm"); err == nil || !strings.Contains(err.Error(), "cannot tell the Slurm version") {
		t.Fatalf("nothing installed: %v", err)
	}
	write(t, root+"/opt/slurm/include/slurm/spank.h", "")
	write(t, root+"/opt/slurm/include/slurm/slurm_version.h", "#define SLURM_VERSION_NUMBER 0x170b04\n")
	s, err := d.Detect(context.Background(), r, "/opt/slurm")
	if err != nil || s.Version != "23.11.4" || s.Include != root+"/opt/slurm/include" {
		t.Fatalf("headers: %+v %v", s, err)
	}
	// An srun of another point release of the same release (a package
	// upgrade half done): srun's version counts, the headers serve, since
	// Slurm loads a plugin built with them all the same.
	write(t, root+"/opt/slurm/bin/srun", "#!/bin/sh\necho slurm 23.11.6\n")
	os.Chmod(root+"/opt/slurm/bin/srun", 0o755)
	if s, err := d.Detect(context.Background(), r, "/opt/slurm"); err != nil || s.Version != "23.11.6" || s.Release() != "23.11" {
		t.Fatalf("point release apart: %+v %v", s, err)
	}
	// An srun of another release: the headers are not its own. (A new
	// file: the answer is cached by the file's identity.)
	os.Remove(root + "/opt/slurm/bin/srun")
	write(t, root+"/opt/slurm/bin/srun", "#!/bin/sh\necho slurm 24.05.1\n")
	os.Chmod(root+"/opt/slurm/bin/srun", 0o755)
	if _, err := d.Detect(context.Background(), r, "/opt/slurm"); err == nil || !strings.Contains(err.Error(), "reports Slurm 24.05.1 but the headers") {
		t.Fatalf("mismatch: %v", err)
	}
}

func TestRelease(t *testing.T) {
	for in, want := range map[string]string{"24.11.7": "24.11", "22.05.8": "22.05", "25.11.0-rc1": "25.11", "24.11": "24.11", "": ""} {
		if got := Release(in); got != want {
			t.Errorf("Release(%q) = %q, want %q", in, got, want)
		}
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

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
