package credentials

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/secret"
)

// hostileHome is a user's home (owned by nobody) holding a credentials file
// the agent is configured to keep for that user; it returns the refresher
// and the file's path.
func hostileHome(t *testing.T) (*Refresher, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root to hand a directory to another user; run make test as root")
	}
	home := filepath.Join(t.TempDir(), "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(home, ".config", "enroot", ".credentials")
	yaml := "ecr:\n  registries: [111122223333.dkr.ecr.us-east-1.amazonaws.com]\ncredentials:\n  enroot_config_path: \"\"\n  files:\n" +
		"    - {path: " + file + ", owner: \"65534\", group: \"65534\"}\n"
	r, src, clk, _, _ := fixture(t, yaml)
	r.root = ""
	r.targets, _ = targets(r.cfg.Credentials, "")
	src.answer = func(string) (Token, error) {
		return Token{Password: secret.New("HOSTILETOKEN"), ExpiresAt: clk.now.Add(12 * time.Hour)}, nil
	}
	return r, file
}

func mkUserDir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for d := dir; filepath.Base(d) != "home"; d = filepath.Dir(d) {
		if err := os.Chown(d, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
}

// A user makes their credentials file a 2 GiB sparse file: the refresh
// refuses it with a clear error instead of reading and rewriting it.
func TestRefreshRefusesHugeUserFile(t *testing.T) {
	r, file := hostileHome(t)
	mkUserDir(t, filepath.Dir(file))
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(file, 2<<30); err != nil {
		t.Fatal(err)
	}
	os.Chown(file, nobody, nobody)
	before, _ := os.Stat(file)
	err := r.RefreshNow(context.Background())
	if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "larger than 1 MiB") {
		t.Fatalf("err = %v", err)
	}
	after, _ := os.Stat(file)
	if after.Size() != 2<<30 || !after.ModTime().Equal(before.ModTime()) || !os.SameFile(before, after) {
		t.Fatal("the oversized file was rewritten")
	}
}

// A credentials path that is a hard link to a root-only file: its content
// must not be merged into a file its user can read.
func TestRefreshRefusesHardLinkInUserDir(t *testing.T) {
	r, file := hostileHome(t)
	mkUserDir(t, filepath.Dir(file))
	victim := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(victim, []byte("root:secret-hash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(victim, file); err != nil {
		t.Fatal(err)
	}
	err := r.RefreshNow(context.Background())
	if err == nil || !strings.Contains(err.Error(), "hard link") {
		t.Fatalf("err = %v", err)
	}
	if got, _ := os.ReadFile(file); string(got) != "root:secret-hash\n" {
		t.Fatalf("the link was replaced: %q", got)
	}
}

// With ~/.config missing, the agent makes it for the user, not for root.
func TestMissingParentsBelongToTheUser(t *testing.T) {
	r, file := hostileHome(t)
	if err := r.RefreshNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(filepath.Dir(file)), filepath.Dir(file), file} {
		var st syscall.Stat_t
		if err := syscall.Stat(d, &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != nobody || st.Gid != nobody {
			t.Errorf("%s: uid %d gid %d, want the user's", d, st.Uid, st.Gid)
		}
	}
}
