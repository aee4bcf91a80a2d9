package slurm

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// lineWalk walks a toy format: "include X" lines, every other line
// collected with its file, so a test sees the order Slurm reads them in.
func lineWalk(t *testing.T, w IncludeWalker, path string) ([]string, Walked, error) {
	t.Helper()
	var got []string
	walked, err := w.Walk(path, func(file string, data []byte, include func(Include)) {
		for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if p, ok := strings.CutPrefix(line, "include "); ok {
				include(Include{File: file, Line: i + 1, Pattern: p})
			} else if line != "" {
				got = append(got, filepath.Base(file)+":"+line)
			}
		}
	})
	return got, walked, err
}

func TestIncludeWalkerReadsInSlurmsOrder(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/etc/main.conf", "a\ninclude d/*.conf\nb\ninclude /etc/abs.conf\ninclude d/none-*.conf\n")
	write(t, root+"/etc/d/2.conf", "two\n")
	write(t, root+"/etc/d/1.conf", "one\ninclude ../abs.conf\n") // relative to d/
	write(t, root+"/etc/d/.1.conf.tmp-x", "temp\n")              // glob(3): never a dot file
	write(t, root+"/etc/abs.conf", "abs\n")
	if err := os.Mkdir(root+"/etc/d/dir.conf", 0o755); err != nil { // a directory reads as empty
		t.Fatal(err)
	}
	got, walked, err := lineWalk(t, IncludeWalker{Root: config.Root(root)}, "/etc/main.conf")
	want := "main.conf:a 1.conf:one abs.conf:abs 2.conf:two main.conf:b abs.conf:abs"
	if err != nil || strings.Join(got, " ") != want || len(walked.Problems) != 0 {
		t.Fatalf("got %v %v %v, want %s", got, walked.Problems, err, want)
	}
	wantFiles := "/etc/main.conf /etc/d/1.conf /etc/abs.conf /etc/d/2.conf /etc/abs.conf"
	if strings.Join(walked.Files, " ") != wantFiles {
		t.Fatalf("files %v, want %s", walked.Files, wantFiles)
	}
}

// Each caller says what a missing top file is: slurm.conf must exist, a
// missing plugstack is an empty one.
func TestIncludeWalkerMissingTopFile(t *testing.T) {
	root := config.Root(t.TempDir())
	if _, _, err := lineWalk(t, IncludeWalker{Root: root, Missing: MissingFails}, "/etc/slurm.conf"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("MissingFails: %v", err)
	}
	got, walked, err := lineWalk(t, IncludeWalker{Root: root, Missing: MissingIsEmpty}, "/etc/plugstack.conf")
	if err != nil || len(got) != 0 || len(walked.Files) != 0 {
		t.Fatalf("MissingIsEmpty: %v %+v %v", got, walked, err)
	}
}

// A loop is reported once, at the line that closes it, and the rest of
// the walk goes on; a glob fanning out through a loop stops at the file
// bound instead of reading 2^16 files.
func TestIncludeWalkerBounds(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/etc/loop.conf", "x\ninclude loop.conf\n")
	got, walked, err := lineWalk(t, IncludeWalker{Root: config.Root(root)}, "/etc/loop.conf")
	if err != nil || len(got) != MaxIncludeDepth+1 || len(walked.Problems) != 1 {
		t.Fatalf("loop: %d lines, %v, %v", len(got), walked.Problems, err)
	}
	if msg := walked.Problems[0].Error(); msg != `/etc/loop.conf:2: include "loop.conf": includes nest deeper than 16 (an include loop?)` {
		t.Fatalf("loop message %q", msg)
	}
	write(t, root+"/etc/fan/a.conf", "include *.conf\n")
	write(t, root+"/etc/fan/b.conf", "include *.conf\n")
	_, walked, err = lineWalk(t, IncludeWalker{Root: config.Root(root)}, "/etc/fan/a.conf")
	var msgs []string
	for _, p := range walked.Problems {
		msgs = append(msgs, p.Error())
	}
	// Each line and reason is reported once, however often the walk met it.
	want := []string{
		`/etc/fan/a.conf:1: include "*.conf": includes nest deeper than 16 (an include loop?)`,
		`/etc/fan/b.conf:1: include "*.conf": includes nest deeper than 16 (an include loop?)`,
		`/etc/fan/b.conf:1: include "*.conf": more than 1000 files to read (an include loop?)`,
		`/etc/fan/a.conf:1: include "*.conf": more than 1000 files to read (an include loop?)`,
	}
	if err != nil || len(walked.Files) != MaxIncludeFiles || strings.Join(msgs, "\n") != strings.Join(want, "\n") {
		t.Fatalf("fan-out: %d files, %v, problems:\n%s", len(walked.Files), err, strings.Join(msgs, "\n"))
	}
}

// A file is read up to MaxConfSize: a huge or endless file is an error
// naming it, never loaded whole; so is a FIFO, which would block the read.
func TestIncludeWalkerBoundedReads(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/etc/main.conf", "include big.conf\n")
	if err := os.WriteFile(root+"/etc/big.conf", make([]byte, MaxConfSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := lineWalk(t, IncludeWalker{Root: config.Root(root)}, "/etc/main.conf")
	if err == nil || !strings.Contains(err.Error(), root+"/etc/big.conf") || !strings.Contains(err.Error(), "over the 4194304") {
		t.Fatalf("big file: %v", err)
	}
	os.Remove(root + "/etc/big.conf")
	if err := mkfifo(root + "/etc/big.conf"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := lineWalk(t, IncludeWalker{Root: config.Root(root)}, "/etc/main.conf"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("fifo: %v", err)
	}
}

func TestIncludePathAndMatches(t *testing.T) {
	for _, c := range []struct{ file, pattern, want string }{
		{"/etc/slurm/plugstack.conf", "plugstack.conf.d/*.conf", "/etc/slurm/plugstack.conf.d/*.conf"},
		{"/etc/slurm/plugstack.conf", "/abs//x.conf", "/abs/x.conf"},
		{"/etc/slurm/d/a.conf", "../b.conf", "/etc/slurm/b.conf"},
	} {
		if got := (Include{File: c.file, Pattern: c.pattern}).Path(); got != c.want {
			t.Errorf("%s in %s: %s, want %s", c.pattern, c.file, got, c.want)
		}
	}
	if !Matches("/etc/d/*.conf", "/etc/d/pyxis.conf") || Matches("/etc/d/*.conf", "/etc/d/.pyxis.conf") || !Matches("/etc/d/.*.conf", "/etc/d/.pyxis.conf") {
		t.Fatal("Matches must follow glob(3)'s rule for dot names")
	}
}

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o644) }

func TestParseConf(t *testing.T) {
	in := "ClusterName=c # comment\n" +
		"propagateResourceLimitsExcept=MEMLOCK,NOFILE\n" +
		"NodeName=n[1-4] CPUs=96 State=CLOUD\n" +
		"include slurm_parallelcluster.conf\n" +
		"SlurmctldHost=head(10.0.0.1) PlugStackConfig=/opt/slurm/etc/plugstack.conf\n"
	s, inc := ParseConf("/s.conf", []byte(in))
	if s["propagateresourcelimitsexcept"].Value != "MEMLOCK,NOFILE" || s["propagateresourcelimitsexcept"].Where != "/s.conf:2" {
		t.Fatalf("settings %+v", s)
	}
	if _, ok := s["cpus"]; ok {
		t.Fatal("node lines must not set cluster keys")
	}
	if s["plugstackconfig"].Value != "/opt/slurm/etc/plugstack.conf" || len(inc) != 1 || inc[0].Pattern != "slurm_parallelcluster.conf" {
		t.Fatalf("settings %+v includes %v", s, inc)
	}
}

func TestMemlockAdvice(t *testing.T) {
	for in, ok := range map[string]bool{
		"":                                      false,
		"PropagateResourceLimitsExcept=MEMLOCK": true,
		"PropagateResourceLimitsExcept=NOFILE":  false,
		"PropagateResourceLimitsExcept=ALL":     true,
		"PropagateResourceLimits=NONE":          true,
		"PropagateResourceLimits=ALL":           false,
		"PropagateResourceLimits=CORE,NOFILE":   true,
		"PropagateResourceLimits=MEMLOCK":       false,
	} {
		s, _ := ParseConf("f", []byte(in))
		if got := MemlockAdvice(s) == ""; got != ok {
			t.Errorf("%q: ok=%v, want %v (%s)", in, got, ok, MemlockAdvice(s))
		}
	}
}

func TestReadConfFollowsIncludes(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/opt/slurm/etc/slurm.conf", "ClusterName=c\ninclude pc/*.conf\n")
	write(t, root+"/opt/slurm/etc/pc/limits.conf", "PropagateResourceLimitsExcept=MEMLOCK\n")
	write(t, root+"/opt/slurm/etc/pc/.limits.conf.tmp-1", "PropagateResourceLimitsExcept=NOFILE\n")
	s, err := ReadConf(config.Root(root), "/opt/slurm/etc/slurm.conf")
	if err != nil || MemlockAdvice(s) != "" || s["propagateresourcelimitsexcept"].Where != "/opt/slurm/etc/pc/limits.conf:1" {
		t.Fatalf("%+v %v", s, err)
	}
}

func FuzzParseConf(f *testing.F) {
	f.Add("A=b c=d\ninclude x\n#\nNodeName=a B=c\n")
	f.Fuzz(func(t *testing.T, in string) {
		s, _ := ParseConf("f", []byte(in))
		for k, v := range s {
			if k != strings.ToLower(k) || strings.ContainsAny(k, "= \t\n#") || !strings.HasPrefix(v.Where, "f:") {
				t.Fatalf("key %q %+v from %q", k, v, in)
			}
		}
		MemlockAdvice(s)
	})
}
