package imagecache

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/realchain"
)

// A user whose registry credentials are rejected gets nothing from the
// cache, though the image is cached: the importer's `enroot digest` with
// the user's own credentials fails, so it never asks the daemon, and its
// fallback import fails too. The rejected password is in no output.
func rejectedCredentials(t *testing.T, c *realchain.Chain, dlog *syncLog) {
	served := strings.Count(dlog.String(), "served a cached image")
	conf := filepath.Join(c.Dir, "home-"+c.User, "wrong-creds")
	password := "wrongpw" + strings.Repeat("x", 12)
	netrc := "machine " + c.Host + " login AWS password " + password + "\n"
	if err := os.MkdirAll(conf, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, ".credentials"), []byte(netrc), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", "-R", c.User+":", conf).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := c.SrunCmd(ctx, c.User, "ENROOT_CONFIG_PATH="+conf)
	out, err := cmd.CombinedOutput()
	all := string(out) + dlog.String()
	if err == nil || strings.Contains(string(out), c.Want) {
		t.Fatalf("srun with rejected credentials ran the image: %v\n%s", err, c.Redact(string(out)))
	}
	if n := strings.Count(dlog.String(), "served a cached image"); n != served {
		t.Fatalf("the daemon served the user with rejected credentials:\n%s", c.Redact(dlog.String()))
	}
	if strings.Contains(all, password) {
		t.Fatal("the rejected password is in srun's or the daemon's output")
	}
	t.Logf("srun failed as it should: %v\n%s", err, tailOf(c.Redact(string(out))))
}

// No job user can put a file where the daemon serves from, nor in its
// work, lock or hold directories: the kernel refuses (EACCES).
func cannotPlant(t *testing.T, c *realchain.Chain, images string) {
	cached := cachedFile(t, images)
	targets := []string{cached, filepath.Join(images, "sha256", strings.Repeat("ab", 32)+".sqsh"),
		filepath.Join(images, "sha256", strings.Repeat("ab", 32)+".json"), filepath.Join(images, "planted.sqsh"),
		filepath.Join(images, ".work", "x"), filepath.Join(images, ".locks", "x"), filepath.Join(images, ".holds", "x")}
	for _, p := range targets {
		out, err := exec.Command("runuser", "-u", c.User, "--", "sh", "-c", "printf hsqs-planted > \"$1\"", "sh", p).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Permission denied") {
			t.Errorf("user %s writing %s: %v %s, want Permission denied", c.User, p, err, out)
		}
	}
	if data, _ := os.ReadFile(cached); strings.Contains(string(data), "planted") {
		t.Fatal("the cached file was overwritten")
	}
}

// Root overwrites bytes of the cached file: the next get finds that it
// no longer matches its record, removes it and imports it again from the
// registry, and the job runs.
func corruptFile(t *testing.T, c *realchain.Chain, images string, dlog *syncLog) {
	path := cachedFile(t, images)
	before, _ := os.ReadFile(filepath.Join(c.Dir, "registry", "registry.log"))
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	if _, err := f.WriteAt([]byte("corrupted by root"), st.Size()/2); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stdout, stderr, err := c.Srun(ctx)
	if err != nil || strings.TrimSpace(stdout) != c.Want {
		t.Fatalf("after corruption: %v\nstdout %q\nstderr %s\ndaemon:\n%s", err, stdout, stderr, c.Redact(dlog.String()))
	}
	after, _ := os.ReadFile(filepath.Join(c.Dir, "registry", "registry.log"))
	if !strings.Contains(dlog.String(), "failed its check") || strings.Count(dlog.String(), "image cached") != 2 {
		t.Fatalf("the corrupt file was not detected and imported again:\n%s", c.Redact(dlog.String()))
	}
	if len(blobGets.FindAll(after, -1)) <= len(blobGets.FindAll(before, -1)) {
		t.Fatal("the re-import fetched nothing from the registry")
	}
	if data, _ := os.ReadFile(path); strings.Contains(string(data), "corrupted by root") {
		t.Fatal("the corrupted file is still in place")
	}
}

func cachedFile(t *testing.T, images string) string {
	files, _ := filepath.Glob(filepath.Join(images, "sha256", "*.sqsh"))
	if len(files) != 1 {
		t.Fatalf("cached images: %v, want one", files)
	}
	return files[0]
}
