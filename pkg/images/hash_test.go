package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/enroot-agent/enroot-agent/pkg/imageref"
)

// countingHash is the store's hash, counted: the file's sha256 computed
// once it is released, so that concurrent requests surely overlap.
type countingHash struct {
	n       atomic.Int32
	release chan struct{}
}

func (c *countingHash) hash(f *os.File) (string, error) {
	c.n.Add(1)
	<-c.release
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Ten first requests for one cached image in a fresh daemon (issue
// finding 11) share one hash of the file; later ones hash nothing.
func TestConcurrentFirstLookupsHashOnce(t *testing.T) {
	newFakeEnroot(t, 0)
	reg := newTestRegistry(t)
	_, d := reg.push(t, "ml/hello:v1", strings.Repeat("big ", 1<<18))
	dir := filepath.Join(worldDir(t), "cache")
	c := testCache(t, dir, "n1")
	v, err := c.Registry.Verify(context.Background(), reg.image("ml/hello"), d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), v, nil, 0); err != nil {
		t.Fatal(err)
	}
	fresh := &Store{Dir: dir, GID: -1} // a restarted daemon: nothing verified yet
	counter := &countingHash{release: make(chan struct{})}
	fresh.hash = counter.hash
	var started, wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		started.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			_, errs[i] = fresh.Lookup(d)
		}()
	}
	started.Wait()
	waitFor(t, "the first hash to start", func() error {
		if counter.n.Load() == 0 {
			return os.ErrNotExist
		}
		return nil
	})
	close(counter.release)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := fresh.Lookup(d); err != nil {
		t.Fatal(err)
	}
	if n := counter.n.Load(); n != 1 {
		t.Fatalf("the file was hashed %d times for 11 requests, want once", n)
	}
}

// BenchmarkTenFirstLookups: ten concurrent first requests for a 256 MiB
// image in a fresh daemon, which share one hash (b/op is time per round).
func BenchmarkTenFirstLookups(b *testing.B) {
	benchLookups(b, 10)
}

// BenchmarkOneFirstLookup is the same image asked for once.
func BenchmarkOneFirstLookup(b *testing.B) {
	benchLookups(b, 1)
}

func benchLookups(b *testing.B, n int) {
	dir, err := os.MkdirTemp("/var/cache", "enroot-agent-images-bench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	_ = os.Chmod(dir, 0o755)
	s := &Store{Dir: filepath.Join(dir, "cache"), GID: -1}
	if err := s.Prepare(); err != nil {
		b.Fatal(err)
	}
	src := filepath.Join(dir, "image.sqsh")
	data := make([]byte, 256<<20)
	copy(data, "hsqs")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		b.Fatal(err)
	}
	d := testDigestOf(data)
	v := &Verified{Digest: d, Requested: d}
	if _, err := s.Publish(v, src, os.Geteuid(), "n1", 0); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		fresh := &Store{Dir: s.Dir, GID: -1}
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := fresh.Lookup(d); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
	}
}

func testDigestOf(data []byte) imageref.Digest {
	sum := sha256.Sum256(data)
	return imageref.Digest("sha256:" + hex.EncodeToString(sum[:]))
}

// A hit on a file this process vouched for is checked by a stat, not by
// reading its record again; whatever the stat or the record's absence
// shows sends it back to the full check: a record removed (an eviction
// elsewhere) serves nothing, and a file replaced by another of the same
// size and mtime is hashed (a hash is of one inode), fails and is removed.
func TestKnownFilesAreCheckedAgainWhenTheyChange(t *testing.T) {
	dir := worldDir(t)
	s := &Store{Dir: filepath.Join(dir, "cache"), GID: -1}
	if err := s.Prepare(); err != nil {
		t.Fatal(err)
	}
	publish := func(content string) imageref.Digest {
		t.Helper()
		src := filepath.Join(dir, "image.sqsh")
		if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		d := testDigestOf([]byte("hsqs one"))
		if _, err := s.Publish(&Verified{Digest: d, Requested: d}, src, os.Geteuid(), "n1", 0); err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := publish("hsqs one")
	for range 2 {
		if _, err := s.Lookup(d); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := s.lookupKnown(d); !ok {
		t.Fatal("a file vouched for is not served by its stat")
	}
	// Replaced (a new inode), same size and mtime, other bytes: the record
	// is read again and the new file hashed, which fails.
	st, _ := os.Stat(s.Path(d))
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, []byte("hsqs two"), 0o444); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(other, st.ModTime(), st.ModTime())
	if err := os.Rename(other, s.Path(d)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(d); !errors.Is(err, errMissing) {
		t.Fatalf("a replaced file: %v", err)
	}
	// The record removed: nothing served, even a file known by its stat.
	d = publish("hsqs one")
	if _, err := s.Lookup(d); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(s.recPath(d))
	if path, err := s.Lookup(d); !errors.Is(err, errMissing) {
		t.Fatalf("with no record: %q, %v", path, err)
	}
}
