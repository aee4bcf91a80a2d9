package slurm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// A converged node asks srun once, in this process and in the next ones
// (the keep file); an upgraded srun (a new file) is asked again and its new
// version is seen.
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
	keep := filepath.Join(root, "var/lib/enroot-agent", KeepFile)
	if err := os.MkdirAll(filepath.Dir(keep), 0o755); err != nil {
		t.Fatal(err)
	}
	d := NewDetector(keep) // one per daemon config
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
	// The next process (apply, verify, the daemon's start) asks no srun.
	d = NewDetector(keep)
	if v := detect(); v != "22.05.9" {
		t.Fatalf("from the keep file: version %q, want 22.05.9", v)
	}
	if n := runs(); n != 2 {
		t.Fatalf("a new Detector ran srun --version again (%d runs): the keep file was not used", n)
	}
	// ... unless srun changed since.
	install("22.05.10")
	d = NewDetector(keep)
	if v := detect(); v != "22.05.10" {
		t.Fatalf("after an upgrade between processes: version %q, want 22.05.10", v)
	}
	if n := runs(); n != 3 {
		t.Fatalf("srun --version ran %d times, want 3", n)
	}
	// A damaged keep file is no cache, never an error or a wrong answer.
	write(t, keep, "{not json")
	d = NewDetector(keep)
	if v := detect(); v != "22.05.10" || runs() != 4 {
		t.Fatalf("damaged keep file: version %q after %d runs, want 22.05.10 after 4", v, runs())
	}
	if data, _ := os.ReadFile(keep); !strings.Contains(string(data), `"22.05.10"`) {
		t.Fatalf("the keep file was not rewritten:\n%s", data)
	}
}

// An srun that cannot answer (no slurm.conf yet) is asked once for the
// steps and checks of one run, and again after noAnswerFor: slurm.conf may
// have come since.
func TestSrunWithoutAnswerAskedAgainLater(t *testing.T) {
	root := t.TempDir()
	calls := filepath.Join(root, "calls")
	write(t, root+"/opt/slurm/include/slurm/spank.h", "")
	write(t, root+"/opt/slurm/include/slurm/slurm_version.h", "#define SLURM_VERSION_NUMBER 0x160508\n")
	write(t, root+"/opt/slurm/bin/srun", "#!/bin/sh\necho run >> "+calls+"\necho 'srun: fatal: Could not establish a configuration source' >&2\nexit 1\n")
	if err := os.Chmod(root+"/opt/slurm/bin/srun", 0o755); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	d := NewDetector(filepath.Join(root, KeepFile))
	d.now = func() time.Time { return now }
	runs := func() int {
		data, _ := os.ReadFile(calls)
		return strings.Count(string(data), "run")
	}
	for i := range 3 {
		s, err := d.Detect(context.Background(), config.Root(root), "/opt/slurm")
		if err != nil || s.Version != "22.05.8" || !strings.HasSuffix(s.From, "slurm_version.h") {
			t.Fatalf("detect %d: %+v %v", i, s, err)
		}
	}
	if n := runs(); n != 1 {
		t.Fatalf("srun ran %d times within one run, want 1", n)
	}
	now = now.Add(noAnswerFor)
	if _, err := d.Detect(context.Background(), config.Root(root), "/opt/slurm"); err != nil {
		t.Fatal(err)
	}
	if n := runs(); n != 2 {
		t.Fatalf("srun ran %d times after noAnswerFor, want 2", n)
	}
	if _, err := os.Stat(filepath.Join(root, KeepFile)); !os.IsNotExist(err) {
		t.Fatalf("no answer must not be kept between processes: %v", err)
	}
}

// On a new node Pyxis's fetch asks srun beside the step that creates the
// state directory, so the first write of the keep file can fail. The next
// ask, answered from memory, writes it: the next process asks no srun.
func TestSrunAnswerKeptOnceStateDirExists(t *testing.T) {
	root := t.TempDir()
	calls := filepath.Join(root, "calls")
	write(t, root+"/opt/slurm/bin/srun", "#!/bin/sh\necho run >> "+calls+"\necho slurm 24.11.5\n")
	if err := os.Chmod(root+"/opt/slurm/bin/srun", 0o755); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(root, "var/lib/enroot-agent", KeepFile)
	detect := func(d *Detector) {
		t.Helper()
		if s, err := d.Detect(context.Background(), config.Root(root), "/opt/slurm"); err != nil || s.Version != "24.11.5" {
			t.Fatalf("detect: %+v %v", s, err)
		}
	}
	d := NewDetector(keep)
	detect(d)
	if _, err := os.Stat(keep); !os.IsNotExist(err) {
		t.Fatalf("keep file written without its directory? %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(keep), 0o700); err != nil {
		t.Fatal(err)
	}
	detect(d)
	if data, err := os.ReadFile(keep); err != nil || !strings.Contains(string(data), `"24.11.5"`) {
		t.Fatalf("the answer was not kept once the state directory existed: %q %v", data, err)
	}
	detect(NewDetector(keep))
	data, _ := os.ReadFile(calls)
	if n := strings.Count(string(data), "run"); n != 1 {
		t.Fatalf("srun ran %d times, want 1", n)
	}
}
