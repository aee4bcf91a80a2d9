package atomicfile

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const nobody = 65534

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root to hand files to another user; run make test as root")
	}
}

// userDir is a directory owned by nobody: a home directory a user controls.
func userDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "home")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A user can make a file in their home as large as they like (a sparse
// file costs nothing); the root agent must not read it all into memory.
func TestReadFileRefusesOversizedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".credentials")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, MaxRead+1); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), path) {
		t.Fatalf("oversized file: err = %v", err)
	}
	if err := os.Truncate(path, MaxRead); err != nil {
		t.Fatal(err)
	}
	if data, err := ReadFile(path); err != nil || len(data) != MaxRead {
		t.Fatalf("file at the limit: %d bytes, err = %v", len(data), err)
	}
}

// Where fs.protected_hardlinks=0 a user can hard-link a root-only file into
// their home; reading it there would copy it into a file the user can read.
func TestReadFileRefusesHardLinkInUserDir(t *testing.T) {
	needRoot(t)
	secret := filepath.Join(t.TempDir(), "shadow")
	mustWrite(t, secret, "root:hash\n")
	home := userDir(t)
	link := filepath.Join(home, ".credentials")
	if err := os.Link(secret, link); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(link); err == nil || !strings.Contains(err.Error(), "hard link") {
		t.Fatalf("hard link in a user's directory: err = %v", err)
	}
	// In a root-owned directory a second link is an administrator's.
	rootLink := filepath.Join(t.TempDir(), "netrc")
	if err := os.Link(secret, rootLink); err != nil {
		t.Fatal(err)
	}
	if data, err := ReadFile(rootLink); err != nil || string(data) != "root:hash\n" {
		t.Fatalf("hard link in a root directory: %q, %v", data, err)
	}
}

// A private directory of the agent's that a user made first may hold what
// the user planted: refuse it with a fix instead of adopting it.
func TestEnsureDirRefusesUserOwnedPrivateDir(t *testing.T) {
	needRoot(t)
	dir := filepath.Join(userDir(t), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	want := opts(0o700)
	if ok, err := dirMatches(dir, want); ok || err != nil {
		t.Fatalf("DirMatches on a user's directory = %v, %v", ok, err)
	}
	if problem, _ := DirProblem(dir, want); !strings.Contains(problem, "uid 65534") {
		t.Fatalf("problem = %q", problem)
	}
	if _, err := EnsureDir(dir, want); err == nil || !strings.Contains(err.Error(), "uid 65534") || !strings.Contains(err.Error(), "remove it") {
		t.Fatalf("EnsureDir on a user's directory: err = %v", err)
	}
	if st := stat(t, dir); st.Uid != nobody {
		t.Fatalf("the user's directory was adopted: uid %d", st.Uid)
	}
}

// A shared 1777 directory (like /run/enroot/data) that a user made first is
// taken back: its entries are each owned by whoever made them anyway, and
// the sticky bit then keeps the user from renaming anyone else's.
func TestEnsureDirReclaimsUserOwnedStickyDir(t *testing.T) {
	needRoot(t)
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	want := opts(0o777 | os.ModeSticky)
	if ok, _ := dirMatches(dir, want); ok {
		t.Fatal("a user's directory matched")
	}
	if changed, err := EnsureDir(dir, want); err != nil || !changed {
		t.Fatalf("EnsureDir: changed=%v err=%v", changed, err)
	}
	if st := stat(t, dir); st.Uid != 0 || st.Mode&0o7777 != 0o1777 {
		t.Fatalf("uid %d mode %o", st.Uid, st.Mode&0o7777)
	}
	if ok, _ := dirMatches(dir, want); !ok {
		t.Fatal("not converged after EnsureDir")
	}
}

// Missing parents of a directory made for a user belong to that user: a
// root-owned ~/.config would lock the user out of their own config.
func TestEnsureDirMakesParentsForTheOwner(t *testing.T) {
	needRoot(t)
	home := userDir(t)
	leaf := filepath.Join(home, ".config", "enroot")
	if _, err := EnsureDir(leaf, Options{Mode: 0o700, UID: nobody, GID: nobody}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(leaf), leaf} {
		if st := stat(t, d); st.Uid != nobody || st.Gid != nobody || st.Mode&0o7777 != 0o700 {
			t.Errorf("%s: uid %d gid %d mode %o", d, st.Uid, st.Gid, st.Mode&0o7777)
		}
	}
}

// A relative path would be resolved from / by the walk, not from the
// working directory: refuse it.
func TestRelativePathRefused(t *testing.T) {
	dir := t.TempDir()
	rel := strings.TrimPrefix(filepath.Join(dir, "x.conf"), "/")
	if _, err := Write(rel, []byte("x"), opts(0o644)); err == nil || !strings.Contains(err.Error(), "not absolute") {
		t.Fatalf("relative write: err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.conf")); !os.IsNotExist(err) {
		t.Fatal("a relative path was written under /")
	}
	if _, err := EnsureDir(rel+".d", opts(0o755)); err == nil {
		t.Fatal("relative EnsureDir accepted")
	}
}

// A writer killed between creating its temp file and renaming it leaves the
// temp file behind; the next write of the same file removes it, but never
// the temp file of a writer still running (it holds a lock on it).
func TestWriteSweepsStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "pyxis.conf")
	mustWrite(t, target, "old\n")
	child := startCrashChild(t, target)
	live, _ := filepath.Glob(filepath.Join(dir, ".pyxis.conf.tmp-*"))
	if len(live) != 1 {
		t.Fatalf("temp files %v", live)
	}
	old := time.Now().Add(-time.Hour)
	foreign := filepath.Join(dir, ".other.conf.tmp-0123456789ab")
	mustWrite(t, foreign, "not ours")
	for _, p := range []string{live[0], foreign} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Write(target, []byte("old\n"), opts(0o644)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live[0]); err != nil {
		t.Fatalf("a running writer's temp file was removed: %v", err)
	}
	_ = child.Process.Signal(syscall.SIGKILL)
	_ = child.Wait()
	if _, err := Write(target, []byte("old\n"), opts(0o644)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live[0]); !os.IsNotExist(err) {
		t.Fatalf("the dead writer's temp file is still there: %v", err)
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Fatalf("another file's temp file was removed: %v", err)
	}
}

// startCrashChild runs crashBeforeRename in a child, which stops right
// before its rename.
func startCrashChild(t *testing.T, target string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), crashEnv+"="+target)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("child said %q", line)
	}
	return cmd
}

// A converged file with a dead writer's temp file beside it is not
// converged (Write would remove the temp file); nor is a private directory
// of the agent's holding one: the next apply cleans both.
func TestLeftoverTempFilesAreNotConverged(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if _, err := EnsureDir(dir, opts(0o700)); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "credentials-status.json")
	if _, err := Write(target, []byte("{}\n"), opts(0o600)); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(dir, ".credentials-status.json.tmp-00112233aabb")
	mustWrite(t, leftover, "{half")
	old := time.Now().Add(-time.Hour)
	os.Chtimes(leftover, old, old)
	if same, err := Matches(target, []byte("{}\n"), opts(0o600)); same || err != nil || LeftoverTemps(target) != 1 {
		t.Fatalf("Matches = %v, %v; LeftoverTemps = %d", same, err, LeftoverTemps(target))
	}
	if problem, _ := DirProblem(dir, opts(0o700)); !strings.Contains(problem, "1 temp file") {
		t.Fatalf("DirProblem = %q", problem)
	}
	if changed, err := EnsureDir(dir, opts(0o700)); err != nil || !changed {
		t.Fatalf("EnsureDir: changed=%v err=%v", changed, err)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatal("EnsureDir left the temp file")
	}
	if same, _ := Matches(target, []byte("{}\n"), opts(0o600)); !same {
		t.Fatal("not converged after the sweep")
	}
	// A directory users can write is not swept: a name there proves nothing.
	shared := filepath.Join(t.TempDir(), "shared")
	if _, err := EnsureDir(shared, opts(0o777|os.ModeSticky)); err != nil {
		t.Fatal(err)
	}
	planted := filepath.Join(shared, ".x.tmp-00112233aabb")
	mustWrite(t, planted, "")
	os.Chtimes(planted, old, old)
	if ok, _ := dirMatches(shared, opts(0o777|os.ModeSticky)); !ok {
		t.Fatal("a user's file made a shared directory unconverged")
	}
}

// dirMatches reports whether path is a directory with opts: DirProblem
// finds nothing to say.
func dirMatches(path string, opts Options) (bool, error) {
	problem, err := DirProblem(path, opts)
	return problem == "" && err == nil, err
}
