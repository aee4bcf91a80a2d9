package images

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// importerUnderStep runs the importer (this test binary as
// images-importer) as nobody in job 42's step 0, as Pyxis runs it.
type importerUnderStep struct {
	step *fakeStep
	bin  string
}

func newImporterUnderStep(t *testing.T, base, sock string) *importerUnderStep {
	t.Helper()
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "images-importer")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	rt := filepath.Join(base, "pyxis")
	if err := os.Mkdir(rt, 0o777); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(rt, os.ModeSticky|0o777)
	s := newFakeStep(t, base)
	s.env = []string{"IMAGES_SOCKET=" + sock, "SLURM_JOB_ID=42", "SLURM_STEP_ID=0", "SLURM_JOB_UID=65534", "PYXIS_RUNTIME_PATH=" + rt,
		"ENROOT_ALLOW_HTTP=y"} // the user's enroot digest reaches the test registry
	return &importerUnderStep{step: s, bin: bin}
}

// serveCache serves c on base/images.sock until the test ends (a test may
// close it sooner).
func serveCache(t testing.TB, c *Cache, base string) (*Server, string) {
	t.Helper()
	srv := &Server{Cache: c, Log: c.Log}
	sock := filepath.Join(base, "images.sock")
	if err := srv.Listen(sock); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv, sock
}

func (i *importerUnderStep) run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := i.step.cmd("slurmstepd: [42.0]", 65534, append([]string{i.bin}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), stderr.String(), err
}

// The importer asks the daemon over its socket with the digest it
// resolved, gets the cached file, and releases its hold; with no daemon
// it imports on its own into PYXIS_RUNTIME_PATH.
func TestImporterThroughTheSocket(t *testing.T) {
	f := newFakeEnroot(t, 0)
	reg := newTestRegistry(t)
	_, d := reg.push(t, "ml/hello:v1", "through the socket")
	base := worldDir(t)
	c := testCache(t, filepath.Join(base, "cache"), "n1")
	srv, sock := serveCache(t, c, base)
	im := newImporterUnderStep(t, base, sock)
	uri := "docker://" + reg.Host + "#ml/hello:v1"
	path, stderr, err := im.run(t, "get", uri)
	if err != nil || path != c.Store.Path(d) {
		t.Fatalf("get: %q, %v\n%s", path, err, stderr)
	}
	holds, _ := filepath.Glob(filepath.Join(c.Store.Dir, ".holds", d.Encoded(), "*"))
	if len(holds) != 1 || filepath.Base(holds[0]) != "n1.65534.42.0" {
		t.Fatalf("holds after get: %v", holds)
	}
	if data, err := os.ReadFile(path); err != nil || !strings.Contains(string(data), "through the socket") {
		t.Fatalf("the cached file: %q, %v", data, err)
	}
	for range 2 { // Pyxis releases twice
		if _, stderr, err := im.run(t, "release"); err != nil {
			t.Fatalf("release: %v\n%s", err, stderr)
		}
	}
	if holds, _ = filepath.Glob(filepath.Join(c.Store.Dir, ".holds", d.Encoded(), "*")); len(holds) != 0 {
		t.Fatalf("holds after release: %v", holds)
	}
	// A second get is a hit.
	if _, stderr, err := im.run(t, "get", uri); err != nil || c.Stats.Snapshot().Hits != 1 || f.count(t) != 1 {
		t.Fatalf("second get: %v, %+v, %d imports\n%s", err, c.Stats.Snapshot(), f.count(t), stderr)
	}
	// No daemon: the user's own import, where Pyxis's simple importer puts it.
	srv.Close()
	_ = os.Remove(sock)
	path, stderr, err = im.run(t, "get", uri)
	want := filepath.Join(base, "pyxis", "65534", "42.0.squashfs")
	if err != nil || path != want || !strings.Contains(stderr, "image cache not used") {
		t.Fatalf("fallback: %q, %v, want %s\n%s", path, err, want, stderr)
	}
	if f.count(t) != 2 {
		t.Fatalf("the fallback did not import: %d imports", f.count(t))
	}
	_, _, _ = im.run(t, "release")
	if _, err := os.Stat(want); err == nil {
		t.Fatal("release left the fallback file")
	}
}

// The attack of issue finding 1, end to end: a user's importer resolves
// the tag of their own lying registry with `enroot digest` (which trusts
// the registry's header) and asks the daemon for a victim's digest. The
// daemon refuses (the user's job imports their own image, as it could
// anyway), nothing is filed under the victim's digest, and the victim's
// job gets the real image.
func TestLyingRegistryThroughTheImporter(t *testing.T) {
	newFakeEnroot(t, 0)
	real, hostile := newTestRegistry(t), newTestRegistry(t)
	_, victim := real.push(t, "ml/hello:v1", "the real image")
	hostile.push(t, "x/evil:latest", "the attacker's image")
	evil := hostile.rawManifest(t, "x/evil", mustDigestOf(t, hostile, "x/evil:latest"))
	hostile.lie(lyingManifests("x/evil", evil, victim))
	base := worldDir(t)
	c := testCache(t, filepath.Join(base, "cache"), "n1")
	_, sock := serveCache(t, c, base)
	im := newImporterUnderStep(t, base, sock)
	path, stderr, _ := im.run(t, "get", "docker://"+hostile.Host+"#x/evil:latest")
	if !strings.Contains(stderr, "lies about the digest") || strings.HasPrefix(path, c.Store.Dir) {
		t.Fatalf("the attacker: %q\n%s", path, stderr)
	}
	if _, err := os.Stat(c.Store.Path(victim)); err == nil {
		t.Fatal("a file was filed under the victim's digest")
	}
	_, _, _ = im.run(t, "release")
	path, stderr, err := im.run(t, "get", "docker://"+real.Host+"#ml/hello:v1")
	if err != nil || path != c.Store.Path(victim) {
		t.Fatalf("the victim: %q, %v\n%s", path, err, stderr)
	}
	if data, _ := os.ReadFile(path); !strings.Contains(string(data), "the real image") {
		t.Fatalf("the victim got %q", data)
	}
}
