package images

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// 16 nodes share one directory and ask for one new digest at once: one
// import, and every node gets the same verified file.
func TestSixteenNodesImportOnce(t *testing.T) {
	for _, lease := range []bool{false, true} {
		t.Run(map[bool]string{false: "flock", true: "lease"}[lease], func(t *testing.T) {
			defer func(old bool) { forceLease = old }(forceLease)
			forceLease = lease
			d := testDigest(1)
			f := newFakeEnroot(t, d, 500*time.Millisecond)
			dir := filepath.Join(worldDir(t), "cache")
			paths := make([]string, 16)
			errs := make([]error, 16)
			var wg sync.WaitGroup
			for i := range paths {
				c := testCache(t, dir, "node"+string(rune('a'+i)))
				wg.Add(1)
				go func() {
					defer wg.Done()
					paths[i], errs[i] = c.Get(context.Background(), testImage, d)
				}()
			}
			wg.Wait()
			for i := range paths {
				if errs[i] != nil || paths[i] != filepath.Join(dir, "sha256", d.Hex()+".sqsh") {
					t.Fatalf("node %d: %q, %v", i, paths[i], errs[i])
				}
			}
			if n := f.count(t); n != 1 {
				t.Fatalf("%d imports for 16 nodes, want 1: %v", n, f.imports(t))
			}
			if !strings.Contains(strings.Join(f.imports(t), " "), testImage.Pinned(d)) {
				t.Fatalf("the import was not pinned to the digest: %v", f.imports(t))
			}
			st, _ := os.Stat(paths[0])
			if st.Mode().Perm() != 0o444 {
				t.Fatalf("cached file mode %v", st.Mode())
			}
		})
	}
}

// TestHelperNode is a node in its own process, for the kill test.
func TestHelperNode(t *testing.T) {
	dir := os.Getenv("IMAGES_HELPER_DIR")
	if dir == "" {
		return
	}
	c := testCache(t, dir, "victim")
	_, err := c.Get(context.Background(), testImage, testDigest(2))
	t.Fatalf("the victim finished: %v", err)
}

// The importing node is killed mid-import: its lock goes with it, and the
// next node imports instead of waiting forever.
func TestKilledImporterIsTakenOver(t *testing.T) {
	d := testDigest(2)
	f := newFakeEnroot(t, d, 3*time.Second)
	dir := filepath.Join(worldDir(t), "cache")
	victim := exec.Command(os.Args[0], "-test.run=^TestHelperNode$")
	victim.Env = append(os.Environ(), "IMAGES_HELPER_DIR="+dir)
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for f.count(t) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if f.count(t) != 1 {
		t.Fatal("the victim never started its import")
	}
	_ = victim.Process.Kill()
	_ = victim.Wait()
	start := time.Now()
	path, err := testCache(t, dir, "survivor").Get(context.Background(), testImage, d)
	if err != nil || path == "" {
		t.Fatalf("after the importer died: %q, %v", path, err)
	}
	if n := f.count(t); n != 2 || time.Since(start) > 15*time.Second {
		t.Fatalf("%d imports in %v after the kill, want the survivor's own import", n, time.Since(start))
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "sha256", ".*")); len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
	// The victim's partial import went with the survivor's import.
	if left, _ := filepath.Glob(filepath.Join(dir, ".work", "*")); len(left) != 0 {
		t.Fatalf("work directories left: %v", left)
	}
}
