package testenv

import (
	"os"
	"testing"
)

// RootOnlyDir makes a fresh directory that only root can change, down from
// / (under /var/cache, root's 0755 on Debian), and removes it at the end of
// the test. t.TempDir lies under the sticky, world-writable /tmp, which a
// check of who can swap a shared directory (internal/rootpath) rightly
// refuses; tests of such directories build on this instead.
func RootOnlyDir(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root: it makes directories only root may change")
	}
	dir, err := os.MkdirTemp("/var/cache", "enroot-agent-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
