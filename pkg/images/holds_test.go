package images

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
