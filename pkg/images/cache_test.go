package images

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/imageref"
)

// 16 nodes share one directory and ask for one new image at once: one
// import, pinned to the verified digest, and every node gets the same file.
func TestSixteenNodesImportOnce(t *testing.T) {
	for _, lease := range []bool{false, true} {
		t.Run(map[bool]string{false: "flock", true: "lease"}[lease], func(t *testing.T) {
			f := newFakeEnroot(t, 500*time.Millisecond)
			reg := newTestRegistry(t)
			_, d := reg.push(t, "ml/hello:v1", "sixteen")
			dir := filepath.Join(worldDir(t), "cache")
			paths := make([]string, 16)
			errs := make([]error, 16)
			var wg sync.WaitGroup
			for i := range paths {
				c := testCache(t, dir, "node"+string(rune('a'+i)))
				c.Store.leaseOnly = lease
				wg.Add(1)
				go func() {
					defer wg.Done()
					v, err := c.Registry.Verify(context.Background(), reg.image("ml/hello"), d)
					if err == nil {
						paths[i], err = c.Get(context.Background(), v, nil, 0)
					}
					errs[i] = err
				}()
			}
			wg.Wait()
			for i := range paths {
				if errs[i] != nil || paths[i] != filepath.Join(dir, "sha256", d.Encoded()+".sqsh") {
					t.Fatalf("node %d: %q, %v", i, paths[i], errs[i])
				}
			}
			imports := f.imports(t)
			if len(imports) != 1 {
				t.Fatalf("%d imports for 16 nodes, want 1: %v", len(imports), imports)
			}
			if !strings.HasPrefix(imports[0], "docker://127.0.0.1:") || !strings.HasSuffix(imports[0], "#ml/hello@"+string(d)) {
				t.Fatalf("the import was not of the front, pinned to the digest: %v", imports)
			}
			st, _ := os.Stat(paths[0])
			if st.Mode().Perm() != 0o444 {
				t.Fatalf("cached file mode %v", st.Mode())
			}
		})
	}
}

// helperNode is a node in its own process, for the kill test: it imports
// until it is killed. TestMain runs it instead of the tests when
// IMAGES_HELPER_DIR is set, so it can never be counted as a test that
// passed; an import that ends is an error (exit 1).
func helperNode(dir string) int {
	c, err := newTestCache(dir, "victim")
	if err == nil {
		var d imageref.Digest
		if d, err = imageref.ParseDigest(os.Getenv("IMAGES_HELPER_DIGEST")); err == nil {
			im := (&testRegistry{Host: os.Getenv("IMAGES_HELPER_REGISTRY")}).image("ml/hello")
			var v *Verified
			if v, err = c.Registry.Verify(context.Background(), im, d); err == nil {
				_, err = c.Get(context.Background(), v, nil, 0)
			}
		}
	}
	fmt.Fprintf(os.Stderr, "the victim finished: %v\n", err)
	return 1
}

// The importing node is killed mid-import: its lock goes with it, and the
// next node imports instead of waiting forever.
func TestKilledImporterIsTakenOver(t *testing.T) {
	f := newFakeEnroot(t, 3*time.Second)
	reg := newTestRegistry(t)
	_, d := reg.push(t, "ml/hello:v1", "killed")
	dir := filepath.Join(worldDir(t), "cache")
	victim := exec.Command(os.Args[0])
	victim.Env = append(os.Environ(), "IMAGES_HELPER_DIR="+dir, "IMAGES_HELPER_REGISTRY="+reg.Host, "IMAGES_HELPER_DIGEST="+string(d))
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the victim's import", func() error {
		if f.count(t) == 0 {
			return os.ErrNotExist
		}
		return nil
	})
	_ = victim.Process.Kill()
	_ = victim.Wait()
	f.setSleep(t, 0)
	c := testCache(t, dir, "survivor")
	v, err := c.Registry.Verify(context.Background(), reg.image("ml/hello"), d)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	path, err := c.Get(context.Background(), v, nil, 0)
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
