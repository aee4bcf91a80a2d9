package images

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/imageref"
)

// A job.step held again under another slurmstepd (a requeued job's batch
// step) names the new one, written whole with the hold's mode; the same
// slurmstepd holding again leaves the file as it is.
func TestHoldOfANewSlurmstepdReplacesTheOld(t *testing.T) {
	s := &Store{Dir: filepath.Join(worldDir(t), "cache"), GID: -1}
	if err := s.Prepare(); err != nil {
		t.Fatal(err)
	}
	d := imageref.Digest("sha256:" + strings.Repeat("ab", 32))
	old := Holder{UID: 1000, Job: "42", Step: "batch", Proc: stepd{pid: 4242, start: 17}}
	if err := s.Hold(d, "n1", old); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(s.Dir, ".holds", d.Encoded(), "n1.1000.42.batch")
	now := old
	now.Proc = stepd{pid: 5151, start: 99}
	for range 2 {
		if err := s.Hold(d, "n1", now); err != nil {
			t.Fatal(err)
		}
		if got := holderOf(path); got != now.Proc {
			t.Fatalf("hold names %+v, want %+v", got, now.Proc)
		}
	}
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode() != 0o600 {
		t.Fatalf("hold %v, %v: want a regular 0600 file", fi.Mode(), err)
	}
	if names, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*")); len(names) != 0 {
		t.Fatalf("temp files left: %v", names)
	}
}

// A release removes this node's holds of the step, each digest's, and no
// other: not the same step's name on another node sharing the directory.
// A daemon that starts again finds the holds the previous one wrote.
func TestReleaseFindsThisNodesHolds(t *testing.T) {
	dir := filepath.Join(worldDir(t), "cache")
	before := &Store{Dir: dir, GID: -1}
	if err := before.Prepare(); err != nil {
		t.Fatal(err)
	}
	d1, d2 := imageref.Digest("sha256:"+strings.Repeat("a1", 32)), imageref.Digest("sha256:"+strings.Repeat("b2", 32))
	h := Holder{UID: 1000, Job: "42", Step: "0", Proc: stepd{pid: 4242, start: 17}}
	for _, hold := range []struct {
		d    imageref.Digest
		node string
	}{{d1, "n1"}, {d2, "n1"}, {d1, "n2"}} {
		if err := before.Hold(hold.d, hold.node, h); err != nil {
			t.Fatal(err)
		}
	}
	after := &Store{Dir: dir, GID: -1} // the daemon started again
	if n, err := after.Release("n1", h); n != 2 || err != nil {
		t.Fatalf("release: %d holds, %v; want 2", n, err)
	}
	if n, _ := after.Release("n1", h); n != 0 {
		t.Fatalf("a second release removed %d holds", n)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".holds", "*", "*"))
	if len(left) != 1 || left[0] != filepath.Join(dir, ".holds", d1.Encoded(), "n2.1000.42.0") {
		t.Fatalf("holds left: %v, want n2's", left)
	}
	// A symlink where a hold goes is refused, and its target left alone.
	target := filepath.Join(worldDir(t), "target")
	if err := os.WriteFile(target, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, ".holds", d2.Encoded(), "n1.1000.42.0")); err != nil {
		t.Fatal(err)
	}
	if err := after.Hold(d2, "n1", h); err == nil {
		t.Fatal("a hold was written through a symlink")
	}
	if data, _ := os.ReadFile(target); string(data) != "x" {
		t.Fatalf("the symlink's target now holds %q", data)
	}
	// The upkeep removes the directories of images no one held for a while,
	// and keeps those in use lately, and those with holds.
	unused, recent := filepath.Join(dir, ".holds", strings.Repeat("c3", 32)), filepath.Join(dir, ".holds", strings.Repeat("d4", 32))
	for _, p := range []string{unused, recent} {
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-holdStale - time.Minute)
	for _, p := range []string{unused, filepath.Join(dir, ".holds", d1.Encoded())} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	after.Renew("n1")
	for p, want := range map[string]bool{unused: false, recent: true, filepath.Join(dir, ".holds", d1.Encoded()): true} {
		if _, err := os.Lstat(p); (err == nil) != want {
			t.Errorf("%s kept: %v, want %v", p, err == nil, want)
		}
	}
}
