package images

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
)

// The credentials file is parsed once while it stays the same file, and
// read again after any change: a token rotated by rename (the refresher's
// way), a write in place of the same size, a file just written (which may
// change again within its clock tick), a file removed, a symlink planted
// in its place.
func TestCredentialsAreReadAgainWhenTheFileChanges(t *testing.T) {
	dir := worldDir(t)
	path := filepath.Join(dir, ".credentials")
	n := &netrcFile{}
	password := func() string {
		t.Helper()
		f := n.get(path)
		if f == nil {
			return ""
		}
		e, _ := f.Lookup("registry.example")
		return e.Password.Reveal()
	}
	write := func(pw string) {
		t.Helper()
		if err := os.WriteFile(path, []byte("machine registry.example login AWS password "+pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("first")
	if got := password(); got != "first" {
		t.Fatalf("first read: %q", got)
	}
	write("again") // same size, in place, within the clock tick of the first
	if got := password(); got != "again" {
		t.Fatalf("a file just written was kept: %q", got)
	}
	// From now on the file has settled: it is kept while its stat holds.
	n.now = func() time.Time { return time.Now().Add(time.Hour) }
	if first, second := n.get(path), n.get(path); first == nil || first != second {
		t.Fatal("a settled file was parsed again")
	}
	write("third") // in place, same size: the ctime moved
	if got := password(); got != "third" {
		t.Fatalf("after a write in place: %q", got)
	}
	if _, err := atomicfile.Write(path, []byte("machine registry.example login AWS password rotated\n"), atomicfile.Options{Mode: 0o600, UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	if got := password(); got != "rotated" {
		t.Fatalf("after a rotation by rename: %q", got)
	}
	_ = os.Remove(path)
	if got := password(); got != "" {
		t.Fatalf("a removed file still gives %q", got)
	}
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, []byte("machine registry.example login AWS password planted\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, path); err != nil {
		t.Fatal(err)
	}
	if got := password(); got != "" {
		t.Fatalf("read through a symlink: %q", got)
	}
}
