package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// credentials.group narrows who reads the shared file, and removing it
// gives the directory and file back to root's group; both applies say
// "changed", since both changed modes and groups.
func TestCredentialsGroupBothWays(t *testing.T) {
	root := sandbox(t)
	conf := configPath(root)
	base, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "run/enroot-agent/enroot-config")
	file := filepath.Join(dir, ".credentials")
	apply := func(extra, want string) {
		t.Helper()
		if err := os.WriteFile(conf, append(append([]byte{}, base...), extra...), 0o644); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := runAgent(t, "--root", root, "apply")
		if code != 0 || !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
			t.Fatalf("apply with %q: exit %d, want %q in\n%s%s", extra, code, want, out, errOut)
		}
	}
	owner := func(p string) (os.FileMode, uint32) {
		t.Helper()
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		return os.FileMode(st.Mode & 0o777), st.Gid
	}
	apply("", "~ credentials changed: refreshed")
	apply("credentials:\n  group: users\n", "~ credentials changed: rewrote")
	if m, g := owner(dir); m != 0o750 || g != 100 {
		t.Fatalf("with the group: dir %04o gid %d", m, g)
	}
	if m, g := owner(file); m != 0o640 || g != 100 {
		t.Fatalf("with the group: file %04o gid %d", m, g)
	}
	apply("", "~ credentials changed: rewrote")
	if m, g := owner(dir); m != 0o755 || g != 0 {
		t.Fatalf("group removed: dir %04o gid %d, want 0755 root", m, g)
	}
	if m, g := owner(file); m != 0o644 || g != 0 {
		t.Fatalf("group removed: file %04o gid %d, want 0644 root", m, g)
	}
	apply("", "✓ credentials done")
}
