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
	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

const nobody = 65534

// A root daemon writing into a directory a user controls is the classic
// privilege escalation: the user plants a symlink and root writes through it.
func TestSymlinkAttackOnUserOwnedParent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root to hand a directory to another user; run make test as root")
	}
	victimDir := t.TempDir()
	victim := filepath.Join(victimDir, "shadow")
	testenv.WriteFile(t, victim, []byte("root:secret-hash\n"), 0o600)
	home := filepath.Join(t.TempDir(), "home")
	testenv.MkdirAll(t, home, 0o755)
	os.Chown(home, nobody, nobody)
	// Attack 1: the file itself is a symlink to a root file.
	// Attack 2: a directory on the path is a symlink the user made.
	viaFile := filepath.Join(home, "netrc")
	os.Symlink(victim, viaFile)
	os.Lchown(viaFile, nobody, nobody)
	viaDir := filepath.Join(home, ".config")
	os.Symlink(victimDir, viaDir)
	os.Lchown(viaDir, nobody, nobody)
	yaml := "ecr:\n  registries: [111122223333.dkr.ecr.us-east-1.amazonaws.com]\ncredentials:\n  enroot_config_path: \"\"\n  files:\n" +
		"    - {path: " + viaFile + ", owner: \"65534\", group: \"65534\"}\n" +
		"    - {path: " + filepath.Join(viaDir, "shadow") + ", owner: \"65534\", group: \"65534\"}\n"
	r, src, clk, logs, _ := fixture(t, yaml)
	r.root = ""
	r.targets, _ = targets(r.cfg.Credentials, "")
	src.answer = func(string) (Token, error) {
		return Token{Password: secret.New("ATTACKTOKEN"), ExpiresAt: clk.now.Add(12 * time.Hour)}, nil
	}
	err := r.RefreshNow(context.Background())
	if err == nil || !strings.Contains(err.Error(), viaFile) || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("err = %v", err)
	}
	if got, _ := os.ReadFile(victim); string(got) != "root:secret-hash\n" {
		t.Fatalf("the victim was changed: %q", got)
	}
	var st syscall.Stat_t
	syscall.Stat(victim, &st)
	if st.Uid != 0 || st.Mode&0o777 != 0o600 {
		t.Fatalf("the victim's owner or mode changed: uid %d mode %o", st.Uid, st.Mode&0o777)
	}
	noSecret(t, logs.String()+err.Error(), "ATTACKTOKEN", "secret-hash")
}

func TestGroupNarrowsSharedFile(t *testing.T) {
	r, src, clk, _, file := fixture(t, "ecr:\n  registries: [111122223333.dkr.ecr.us-east-1.amazonaws.com]\ncredentials:\n  group: \"4242\"\n"+
		"  files: [{path: /root/.config/enroot/.credentials}]\n")
	src.answer = func(string) (Token, error) {
		return Token{Password: secret.New("g"), ExpiresAt: clk.now.Add(12 * time.Hour)}, nil
	}
	if err := r.RefreshNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][3]uint32{
		file:                 {0o640, 0, 4242},
		filepath.Dir(file):   {0o750, 0, 4242},
		r.targets[1].path:    {0o600, 0, 0},
		r.targets[1].dirPath: {0o700, 0, 0},
	} {
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		if got := [3]uint32{st.Mode & 0o7777, st.Uid, st.Gid}; got != want {
			t.Errorf("%s: mode/uid/gid %o/%d/%d, want %o/%d/%d", path, got[0], got[1], got[2], want[0], want[1], want[2])
		}
	}
}
