package atomicfile

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func opts(mode os.FileMode) Options { return Options{Mode: mode, UID: -1, GID: -1} }

func TestWriteContentModeOwner(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "x.conf")
	if _, err := EnsureDir(filepath.Dir(path), opts(0o750)); err != nil {
		t.Fatal(err)
	}
	changed, err := Write(path, []byte("hello\n"), Options{Mode: 0o640, UID: 0, GID: 65534})
	if err != nil || !changed {
		t.Fatalf("first write: changed=%v err=%v", changed, err)
	}
	st := stat(t, path)
	if got, _ := os.ReadFile(path); string(got) != "hello\n" {
		t.Fatalf("content %q", got)
	}
	if st.Mode&0o7777 != 0o640 || st.Uid != 0 || st.Gid != 65534 {
		t.Fatalf("mode %o uid %d gid %d", st.Mode&0o7777, st.Uid, st.Gid)
	}
	if dst := stat(t, filepath.Dir(path)); dst.Mode&0o7777 != 0o750 {
		t.Fatalf("dir mode %o", dst.Mode&0o7777)
	}
}

func TestWriteIdenticalIsNoop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.conf")
	if _, err := Write(path, []byte("same"), opts(0o644)); err != nil {
		t.Fatal(err)
	}
	before := stat(t, path)
	time.Sleep(10 * time.Millisecond)
	changed, err := Write(path, []byte("same"), opts(0o644))
	if err != nil || changed {
		t.Fatalf("identical write: changed=%v err=%v", changed, err)
	}
	after := stat(t, path)
	if before.Ino != after.Ino || before.Mtim != after.Mtim {
		t.Fatal("identical write touched the file")
	}
	for _, c := range []struct {
		data string
		mode os.FileMode
	}{{"same", 0o600}, {"samE", 0o644}, {"same!", 0o644}, {"sam", 0o644}} {
		changed, err := Write(path, []byte(c.data), opts(c.mode))
		if err != nil || !changed {
			t.Fatalf("write %q %o: changed=%v err=%v", c.data, c.mode, changed, err)
		}
	}
	if got, _ := os.ReadFile(path); string(got) != "sam" {
		t.Fatalf("content %q", got)
	}
}

func TestWriteRefusesSymlinkTarget(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	mustWrite(t, victim, "precious")
	link := filepath.Join(dir, "link.conf")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(link, []byte("evil"), opts(0o644)); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("write through symlink: err=%v", err)
	}
	if got, _ := os.ReadFile(victim); string(got) != "precious" {
		t.Fatalf("victim changed: %q", got)
	}
}

// A user who owns a directory on the path can swap a component for a symlink
// to somewhere only root may write; the walk must refuse to follow it.
func TestWriteRefusesUntrustedParentSymlink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root to hand a directory to another user; run make test as root")
	}
	dir := t.TempDir()
	user := filepath.Join(dir, "home")
	secret := filepath.Join(dir, "etc")
	for _, d := range []string{user, secret} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(user, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(user, ".config")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(link, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := Write(filepath.Join(link, "shadow"), []byte("x"), opts(0o644))
	if err == nil || !strings.Contains(err.Error(), "refusing to follow symlink") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(secret, "shadow")); !os.IsNotExist(err) {
		t.Fatal("file created through an untrusted symlink")
	}
	// The same link made by root in a root-owned directory is an admin's choice.
	trustedLink := filepath.Join(dir, "etc-link")
	if err := os.Symlink(secret, trustedLink); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(filepath.Join(trustedLink, "ok"), []byte("x"), opts(0o644)); err != nil {
		t.Fatalf("trusted link refused: %v", err)
	}
}

const crashEnv = "ATOMICFILE_CRASH_TARGET"

// crashBeforeRename is the child of the crash tests (see TestMain): it
// writes target, stops right before the rename and waits to be killed.
func crashBeforeRename(target string) {
	stop := func(int, string, int, string) error {
		os.Stdout.WriteString("ready\n")
		select {}
	}
	_, err := writeRenaming(target, []byte("new half-finished content\n"), opts(0o644), stop)
	fmt.Fprintf(os.Stderr, "the write ended before its rename: %v\n", err)
	os.Exit(2)
}

func TestCrashBeforeRename(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "pyxis.conf")
	mustWrite(t, target, "old\n")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), crashEnv+"="+target)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("child said %q", line)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if got, _ := os.ReadFile(target); string(got) != "old\n" {
		t.Fatalf("target after crash = %q", got)
	}
	// Slurm expands include globs with glob(3), which skips dot files, as sh does.
	seen, err := exec.Command("sh", "-c", "cd \"$1\" && echo * && echo *.conf", "sh", dir).Output()
	if err != nil || string(seen) != "pyxis.conf\npyxis.conf\n" {
		t.Fatalf("globs see %q (%v)", seen, err)
	}
	hidden, _ := filepath.Glob(filepath.Join(dir, ".pyxis.conf.tmp-*"))
	if len(hidden) != 1 {
		t.Fatalf("expected the killed child's hidden temp file, found %v", hidden)
	}
}

func stat(t *testing.T, path string) syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func mustWrite(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A volatile write skips the fsyncs only: the file is still replaced
// whole, with its mode and owner, and no temp file stays behind.
func TestWriteVolatile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hold")
	o := Options{Mode: 0o600, UID: 0, GID: 65534, Volatile: true}
	for _, content := range []string{"123 456\n", "789 1011\n"} {
		changed, err := Write(path, []byte(content), o)
		if err != nil || !changed {
			t.Fatalf("write %q: changed=%v err=%v", content, changed, err)
		}
		if got, _ := os.ReadFile(path); string(got) != content {
			t.Fatalf("content %q, want %q", got, content)
		}
	}
	if st := stat(t, path); st.Mode&0o7777 != 0o600 || st.Uid != 0 || st.Gid != 65534 {
		t.Fatalf("mode %o uid %d gid %d", st.Mode&0o7777, st.Uid, st.Gid)
	}
	if changed, err := Write(path, []byte("789 1011\n"), o); err != nil || changed {
		t.Fatalf("identical volatile write: changed=%v err=%v", changed, err)
	}
	if names, _ := filepath.Glob(filepath.Join(dir, ".*")); len(names) != 0 {
		t.Fatalf("temp files left: %v", names)
	}
}

// BenchmarkWrite: what the two fsyncs cost on this machine's disk, which a
// Volatile write (an image hold, on every job step's get) does not pay.
func BenchmarkWrite(b *testing.B) {
	dir, err := os.MkdirTemp("/var/tmp", "atomicfile-bench-") // a disk, not a tmpfs
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	for _, volatile := range []bool{false, true} {
		b.Run(fmt.Sprintf("volatile=%v", volatile), func(b *testing.B) {
			o := Options{Mode: 0o600, UID: -1, GID: -1, Volatile: volatile}
			for i := 0; i < b.N; i++ {
				if _, err := Write(filepath.Join(dir, "hold"), []byte(fmt.Sprintf("%d 1\n", i)), o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
