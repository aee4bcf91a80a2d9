package images

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// fakeEnroot stands in for enroot where the real one cannot run (unit
// tests: no registry, no squashfs-tools). It is a real executable that the
// daemon's code runs as the import user, exactly as it runs enroot: `digest`
// prints digest, `import --output OUT URI` logs the import, waits, and
// writes a file with squashfs magic. The real enroot is used by
// e2e/imagecache.
type fakeEnroot struct {
	bin, log, digest string
}

func newFakeEnroot(t *testing.T, digest Digest, sleep time.Duration) *fakeEnroot {
	t.Helper()
	dir := worldDir(t)
	f := &fakeEnroot{bin: dir, log: filepath.Join(dir, "imports"), digest: filepath.Join(dir, "digest")}
	if err := os.WriteFile(f.log, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(f.log, 0o666)
	f.setDigest(t, digest)
	script := fmt.Sprintf(`#!/bin/sh
case "$1" in
digest) echo "resolving $2" >&2; cat %s ;;
import) echo "$$ $4" >> %s; sleep %.2f; printf 'hsqs image %%s %%s' "$4" "$$" > "$3" ;;
*) echo "fake enroot: $*" >&2; exit 1 ;;
esac
`, f.digest, f.log, sleep.Seconds())
	if err := os.WriteFile(filepath.Join(dir, "enroot"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	return f
}

// setDigest moves the tag: `enroot digest` answers d from now on.
func (f *fakeEnroot) setDigest(t *testing.T, d Digest) {
	t.Helper()
	if err := os.WriteFile(f.digest, []byte(string(d)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// imports counts the imports the fake ran.
func (f *fakeEnroot) imports(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(f.log)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(string(data), "\n", " \n"))
}

func (f *fakeEnroot) count(t *testing.T) int {
	data, _ := os.ReadFile(f.log)
	return strings.Count(string(data), "\n")
}

// worldDir is a temp dir the import user can reach (t.TempDir is 0700).
func worldDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the image cache tests need root: the daemon runs imports as another user")
	}
	dir, err := os.MkdirTemp("", "images-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func testCache(t *testing.T, dir, node string) *Cache {
	t.Helper()
	c := &Cache{Store: &Store{Dir: dir}, Enroot: &Enroot{User: "nobody", Path: os.Getenv("PATH")},
		Node: node, ImportTimeout: time.Minute, Log: zap.NewNop(), Stats: &Stats{}}
	if err := c.Store.Prepare(); err != nil {
		t.Fatal(err)
	}
	return c
}

func testDigest(n int) Digest { return Digest(fmt.Sprintf("sha256:%064x", n)) }

var testImage = Image{Registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com", Sep: "#", Repo: "ml/hello"}
