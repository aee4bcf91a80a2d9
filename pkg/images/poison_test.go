package images

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/imageref"
)

// A user cannot plant a file (the directory is not theirs); a file that
// appears anyway without the agent's record, or that changed after its
// record, is never served: it is removed and imported again.
func TestPlantedAndCorruptFilesAreNeverServed(t *testing.T) {
	f := newFakeEnroot(t, 0)
	reg := newTestRegistry(t)
	_, d := reg.push(t, "ml/hello:v1", "genuine")
	dir := filepath.Join(worldDir(t), "cache")
	c := testCache(t, dir, "n1")
	v, err := c.Registry.Verify(context.Background(), reg.image("ml/hello"), d)
	if err != nil {
		t.Fatal(err)
	}
	plant := filepath.Join(dir, "sha256", d.Encoded()+".sqsh")
	if out, err := exec.Command("runuser", "-u", "nobody", "--", "sh", "-c", "echo hsqs-evil > "+plant).CombinedOutput(); err == nil {
		t.Fatalf("user nobody could write %s: %s", plant, out)
	}
	// Root plants one with no record (a restore gone wrong, a rogue admin).
	if err := os.WriteFile(plant, []byte("hsqs evil"), 0o444); err != nil {
		t.Fatal(err)
	}
	path, err := c.Get(context.Background(), v, nil, 0)
	if err != nil || f.count(t) != 1 {
		t.Fatalf("with a planted file: %q, %v, %d imports", path, err, f.count(t))
	}
	if data, _ := os.ReadFile(path); strings.Contains(string(data), "evil") {
		t.Fatal("the planted file was served")
	}
	// Corrupted in place, mtime kept: a new process (a restarted daemon)
	// hashes the file before serving it.
	st, _ := os.Stat(path)
	data, _ := os.ReadFile(path)
	data[len(data)-1] ^= 0xff
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(path, 0o444)
	_ = os.Chtimes(path, st.ModTime(), st.ModTime())
	fresh := testCache(t, dir, "n1")
	if _, err := fresh.Get(context.Background(), v, nil, 0); err != nil || f.count(t) != 2 {
		t.Fatalf("a corrupt file: %v, %d imports, want a second import", err, f.count(t))
	}
	if fresh.Stats.Snapshot().Corrupt != 1 {
		t.Fatalf("corrupt count %d", fresh.Stats.Snapshot().Corrupt)
	}
	// Appended to (mtime changes): caught without a hash.
	fh, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	fh.Write([]byte("x"))
	fh.Close()
	if _, err := fresh.Get(context.Background(), v, nil, 0); err != nil || f.count(t) != 3 {
		t.Fatalf("an appended file: %v, %d imports", err, f.count(t))
	}
}

// cacheImages pushes and caches n images, the oldest used first.
func cacheImages(t *testing.T, c *Cache, reg *testRegistry, n int) ([]imageref.Digest, int64) {
	t.Helper()
	var ds []imageref.Digest
	var sizes int64
	for i := range n {
		_, d := reg.push(t, fmt.Sprintf("ml/img%d:v1", i), fmt.Sprintf("image number %d", i))
		v, err := c.Registry.Verify(context.Background(), reg.image(fmt.Sprintf("ml/img%d", i)), d)
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.Get(context.Background(), v, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(p)
		sizes += st.Size()
		past := time.Now().Add(time.Duration(i-20) * time.Minute)
		_ = os.Chtimes(c.Store.recPath(d), past, past)
		ds = append(ds, d)
	}
	return ds, sizes
}

// Eviction keeps the cache under max_size, least recently used first, and
// never removes an image a running step holds.
func TestEvictionSparesHeldImages(t *testing.T) {
	newFakeEnroot(t, 0)
	reg := newTestRegistry(t)
	c := testCache(t, filepath.Join(worldDir(t), "cache"), "n1")
	ds, sizes := cacheImages(t, c, reg, 4)
	// The oldest is held by a live step (this test process).
	if err := c.Store.Hold(ds[0], "n1", selfHolder(1000, "7")); err != nil {
		t.Fatal(err)
	}
	c.MaxSize = sizes - 1
	c.Evict()
	for i, want := range map[int]bool{0: true, 1: false, 2: true, 3: true} {
		_, err := os.Stat(c.Store.Path(ds[i]))
		if (err == nil) != want {
			t.Errorf("image %d present=%v, want %v", i, err == nil, want)
		}
	}
	if n := c.Stats.Snapshot().Evictions; n != 1 {
		t.Fatalf("%d evictions, want 1 (over by one image; the held one is spared)", n)
	}
	if n, _ := c.Store.Release("n1", Holder{UID: 1000, Job: "7", Step: "0"}); n != 1 {
		t.Fatalf("release dropped %d holds", n)
	}
	c.MaxSize = 1
	c.Evict()
	if _, err := os.Stat(c.Store.Path(ds[0])); err == nil {
		t.Fatal("released and oldest, yet kept")
	}
}

func mustParse(t *testing.T, s string) imageref.Digest {
	t.Helper()
	d, err := imageref.ParseDigest(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
