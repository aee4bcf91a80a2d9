package images

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The importer asks the daemon over its socket with the digest it
// resolved, gets the cached file, and releases its hold; with no daemon
// it imports on its own into PYXIS_RUNTIME_PATH.
func TestImporterThroughTheSocket(t *testing.T) {
	f := newFakeEnroot(t, 0)
	t.Setenv("ENROOT_ALLOW_HTTP", "y") // the user's enroot digest reaches the test registry
	reg := newTestRegistry(t)
	_, d := reg.push(t, "ml/hello:v1", "through the socket")
	base := worldDir(t)
	c := testCache(t, filepath.Join(base, "cache"), "n1")
	srv := &Server{Cache: c, Log: c.Log}
	sock := filepath.Join(base, "images.sock")
	if err := srv.Listen(sock); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	env := map[string]string{"SLURM_JOB_ID": "42", "SLURM_STEP_ID": "0", "SLURM_JOB_UID": "0",
		"PYXIS_RUNTIME_PATH": filepath.Join(base, "pyxis")}
	var stderr bytes.Buffer
	im := &Importer{Socket: sock, Getenv: func(k string) string { return env[k] }, Stderr: &stderr}
	uri := "docker://" + reg.Host + "#ml/hello:v1"
	path, err := im.Get(context.Background(), uri)
	if err != nil || path != c.Store.Path(d) {
		t.Fatalf("get: %q, %v\n%s", path, err, stderr.String())
	}
	holds, _ := filepath.Glob(filepath.Join(c.Store.Dir, ".holds", d.Encoded(), "*"))
	if len(holds) != 1 || !strings.HasSuffix(holds[0], "n1.0.42.0") {
		t.Fatalf("holds after get: %v", holds)
	}
	for range 2 { // Pyxis releases twice
		if err := im.Release(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if holds, _ = filepath.Glob(filepath.Join(c.Store.Dir, ".holds", d.Encoded(), "*")); len(holds) != 0 {
		t.Fatalf("holds after release: %v", holds)
	}
	// A second get is a hit.
	if _, err := im.Get(context.Background(), uri); err != nil || c.Stats.Snapshot().Hits != 1 || f.count(t) != 1 {
		t.Fatalf("second get: %v, %+v, %d imports", err, c.Stats.Snapshot(), f.count(t))
	}
	// No daemon: the user's own import, where Pyxis's simple importer puts it.
	srv.Close()
	_ = os.Remove(sock)
	path, err = im.Get(context.Background(), uri)
	want := filepath.Join(base, "pyxis", "0", "42.0.squashfs")
	if err != nil || path != want || !strings.Contains(stderr.String(), "image cache not used") {
		t.Fatalf("fallback: %q, %v, want %s\n%s", path, err, want, stderr.String())
	}
	if f.count(t) != 2 {
		t.Fatalf("the fallback did not import: %d imports", f.count(t))
	}
	_ = im.Release(context.Background())
	if _, err := os.Stat(want); err == nil {
		t.Fatal("release left the fallback file")
	}
}
