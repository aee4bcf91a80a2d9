package credentials

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/internal/secret"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/credentials/netrc"
	"go.uber.org/zap"
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

// Restore puts back a deleted or damaged file from the tokens held, with no
// call to ECR, logs what it changed besides the content (mode, group,
// creation) without the token, and never writes back an expired token.
func TestRestoreFromHeldTokens(t *testing.T) {
	r, src, clk, logs, file := fixture(t, "ecr:\n  registries: [111122223333.dkr.ecr.us-east-1.amazonaws.com]\n")
	src.answer = func(string) (Token, error) {
		return Token{Password: secret.New("HELDTOKEN"), ExpiresAt: clk.now.Add(3 * time.Hour)}, nil
	}
	if err := r.RefreshNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	good := read(t, file)
	restore := func(want string) {
		t.Helper()
		changed, err := r.Restore()
		if err != nil || len(changed) != 1 || changed[0] != file {
			t.Fatalf("Restore: %v, %v", changed, err)
		}
		if got := read(t, file); got != good {
			t.Fatalf("restored file %q, want %q", got, good)
		}
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("no %q in the log:\n%s", want, logs)
		}
	}

	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	restore(`"changes":"created (it was missing)"`)

	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	restore(`"changes":"mode 0600 -> 0644"`)

	if err := os.Chown(file, -1, 100); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	restore(`"changes":"group 100 -> 0, directory mode 0700 -> 0755"`)

	// A line that is there is never changed: another writer put it there
	// (the repair converge's full rewrite deals with a line edited by hand).
	stale := "machine 111122223333.dkr.ecr.us-east-1.amazonaws.com login AWS password STALE\n"
	if err := os.WriteFile(file, []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	if changed, err := r.Restore(); err != nil || len(changed) != 0 || read(t, file) != stale {
		t.Fatalf("Restore changed a line that was there: %v %v %q", changed, err, read(t, file))
	}
	if err := os.WriteFile(file, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	if n := src.calls["us-east-1"]; n != 1 {
		t.Fatalf("%d ECR calls, want the first refresh's only", n)
	}

	// `enroot-agent refresh` in another process writes a newer token and
	// records it; the file is then deleted: the daemon restores the newer
	// token, which the recorded status still vouches for.
	other, err := NewRefresher(r.cfg, r.root, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	otherSrc := &scripted{calls: map[string]int{}}
	other.Source, other.now, other.rand = otherSrc, clk.Now, seeded()
	otherSrc.answer = func(string) (Token, error) {
		return Token{Password: secret.New("NEWERTOKEN"), ExpiresAt: clk.now.Add(12 * time.Hour)}, nil
	}
	if err := other.RefreshNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	newer := read(t, file)
	if _, err := r.Restore(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Restore(); err != nil || read(t, file) != newer {
		t.Fatalf("after another process's refresh and a deletion: %q, %v; want %q", read(t, file), err, newer)
	}
	st, err := readStatus(r.statePath)
	if err != nil || st.Registries[0].Fingerprint != secret.New("NEWERTOKEN").Fingerprint() {
		t.Fatalf("the recorded status does not vouch for the restored token: %+v %v", st, err)
	}

	clk.Advance(12 * time.Hour) // past every token's expiry
	if _, err := r.Restore(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Restore(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, file); strings.Contains(got, "TOKEN") {
		t.Fatalf("an expired token was written back: %q", got)
	}
	noSecret(t, logs.String(), "HELDTOKEN", "NEWERTOKEN", "STALE")
}

// Whatever the secrets and the lines an admin added, the agent never writes
// a credentials file it would refuse to read back: with foreign lines that
// leave no room, the write is refused with what to remove, and the file
// stays as it was (readable, so the agent keeps control of its lines); once
// the admin trims them, the next refresh writes again.
func TestNeverWritesAFileItCannotReadBack(t *testing.T) {
	e := kindsEmulators(t)
	r, _, file := realRefresher(t, kindsYAML)
	ctx := context.Background()
	if err := r.RefreshNow(ctx); err != nil {
		t.Fatal(err)
	}
	line := "machine other.example.com login admin password " + strings.Repeat("f", 200) + "\n"
	ours := readFile(t, file)
	foreign := strings.Repeat(line, (atomicfile.MaxRead-len(ours)-100)/len(line))
	before := ours + foreign
	if len(before) > atomicfile.MaxRead || len(before) < atomicfile.MaxRead-len(line)-100 {
		t.Fatalf("fixture: %d bytes", len(before))
	}
	if err := os.WriteFile(file, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	e.stores.Set("secretsmanager:cluster/ngc", "k"+strings.Repeat("n", 3000)) // longer lines than before
	err := r.refreshSecrets(ctx)
	if err == nil || !strings.Contains(err.Error(), "over the 1048576 bytes the agent reads back: not written, left as it is") ||
		!strings.Contains(err.Error(), "are lines the agent does not own: remove some of them") || strings.Contains(err.Error(), "nnnn") {
		t.Fatalf("refresh with a full file: %v", err)
	}
	if got := readFile(t, file); got != before {
		t.Fatal("the file changed")
	}
	if err := os.WriteFile(file, []byte(readFile(t, file)[:len(before)-len(foreign)/2]), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.refreshSecrets(ctx); err != nil {
		t.Fatalf("after the admin trimmed their lines: %v", err)
	}
	if got := readFile(t, file); len(got) > atomicfile.MaxRead || !strings.Contains(got, "nnnn\n") {
		t.Fatalf("the new value is not written (%d bytes)", len(got))
	}
}

// The agent's own lines alone always fit: the most hosts the config
// accepts, each with the longest line curl reads, fill at most half of what
// the agent reads back.
func TestOwnLinesAlwaysFit(t *testing.T) {
	if config.MaxRegistryHosts*netrc.MaxLine > atomicfile.MaxRead/2 {
		t.Fatalf("%d hosts × %d bytes exceed half of %d", config.MaxRegistryHosts, netrc.MaxLine, atomicfile.MaxRead)
	}
	var want []netrc.Entry
	for i := range config.MaxRegistryHosts {
		e := netrc.Entry{Host: fmt.Sprintf("h%03d.example.com", i), Login: "AWS"}
		e.Password = secret.New(strings.Repeat("p", netrc.MaxLine-len(e.Line())))
		want = append(want, e)
	}
	data := netrc.Parse(strings.Repeat("#", atomicfile.MaxRead/2-1)+"\n").Merge(want, func(netrc.Entry) bool { return true }).Render()
	if err := fitsReadBack(data, want); err != nil || len(data) > atomicfile.MaxRead {
		t.Fatalf("%d bytes: %v", len(data), err)
	}
}
