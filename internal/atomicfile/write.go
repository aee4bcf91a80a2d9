package atomicfile

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Options say what the file must look like besides its content. A UID of -1
// means "whoever runs the agent" (root on a node; tests may run as anyone),
// and is required like any other owner. A GID of -1 takes whatever group a
// new file gets, and accepts any.
type Options struct {
	Mode     os.FileMode
	UID, GID int
	// Volatile skips Write's two fsyncs (the file's, then its directory's).
	// Readers still see the old content or the new, never a mix, and never
	// a temp file; only a crash of the machine may lose the write. For
	// state that means nothing after a crash, written on a hot path (an
	// image hold names a running process: it dies with the machine too).
	Volatile bool
}

// Default is a root-owned, world-readable file.
var Default = Options{Mode: 0o644, UID: -1, GID: -1}

// Write makes path hold exactly data with opts. It compares first and writes
// nothing when content, mode and owner already match, so a converged node sees
// no mtime change. Otherwise it writes a temp file in the same directory, named
// with a leading dot and a random suffix so that no glob such as *.conf or *
// can pick it up, fsyncs it, renames it over path and fsyncs the directory
// (no fsyncs with opts.Volatile). It never follows a symlink at path. It reports whether it changed anything.
func Write(path string, data []byte, opts Options) (bool, error) {
	return writeRenaming(path, data, opts, unix.Renameat)
}

// writeRenaming is Write with its rename as a parameter: the crash test's child
// stops right before it.
func writeRenaming(path string, data []byte, opts Options, renameat func(int, string, int, string) error) (bool, error) {
	dir, name := filepath.Split(filepath.Clean(path))
	dirfd, err := openDir(dir, nil)
	if err != nil {
		return false, err
	}
	defer unix.Close(dirfd)
	sweep(dirfd, ofName(name))
	same, err := matches(dirfd, name, data, opts)
	if err != nil || same {
		return false, wrap(path, err)
	}
	tmp, tf, err := writeTemp(dirfd, name, data, opts)
	if err != nil {
		return false, wrap(path, err)
	}
	// The temp file stays open, and so locked, until it has its real name:
	// the lock is what tells a sweep that its writer is alive.
	defer tf.Close()
	if err := renameat(dirfd, tmp, dirfd, name); err != nil {
		_ = unix.Unlinkat(dirfd, tmp, 0)
		return false, wrap(path, err)
	}
	if opts.Volatile {
		return true, nil
	}
	return true, wrap(path, unix.Fsync(dirfd))
}

// matches reads the current file, if any, without following a symlink.
func matches(dirfd int, name string, data []byte, opts Options) (bool, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return false, nil
	case errors.Is(err, unix.ELOOP):
		return false, fmt.Errorf("refusing to write through a symlink")
	case err != nil:
		return false, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return false, fmt.Errorf("exists and is not a regular file")
	}
	if os.FileMode(st.Mode&0o7777) != opts.Mode.Perm()|special(opts.Mode) || !owned(st, opts) {
		return false, nil
	}
	// Read one byte more than we need so a longer file never compares equal.
	cur, err := io.ReadAll(io.LimitReader(f, int64(len(data))+1))
	return err == nil && bytes.Equal(cur, data), err
}

// writeTemp writes data to a new hidden temp file and returns it open and
// locked (see sweep).
func writeTemp(dirfd int, name string, data []byte, opts Options) (string, *os.File, error) {
	suffix := make([]byte, tempSuffixLen/2)
	_, _ = rand.Read(suffix)
	tmp := tempPrefix(name) + hex.EncodeToString(suffix)
	fd, err := unix.Openat(dirfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return "", nil, err
	}
	f := os.NewFile(uintptr(fd), tmp)
	err = unix.Flock(fd, unix.LOCK_EX)
	if err == nil {
		err = write(f, data, opts)
	}
	if err != nil {
		_ = unix.Unlinkat(dirfd, tmp, 0)
		return "", nil, errors.Join(err, f.Close())
	}
	return tmp, f, nil
}

func write(f *os.File, data []byte, opts Options) error {
	if _, err := f.Write(data); err != nil {
		return err
	}
	if opts.UID != -1 || opts.GID != -1 {
		if err := f.Chown(opts.UID, opts.GID); err != nil {
			return err
		}
	}
	// Chmod after chown: chown clears setuid/setgid bits.
	if err := f.Chmod(opts.Mode.Perm() | opts.Mode&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky)); err != nil {
		return err
	}
	if opts.Volatile {
		return nil
	}
	return f.Sync()
}

func special(m os.FileMode) os.FileMode {
	var s os.FileMode
	if m&os.ModeSetuid != 0 {
		s |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		s |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		s |= 0o1000
	}
	return s
}

func owned(st unix.Stat_t, opts Options) bool {
	return int(st.Uid) == wantUID(opts) && (opts.GID == -1 || int(st.Gid) == opts.GID)
}

// wantUID is the owner opts require: -1 is the agent itself.
func wantUID(opts Options) int {
	if opts.UID == -1 {
		return os.Geteuid()
	}
	return opts.UID
}

func wrap(path string, err error) error {
	if err == nil {
		return nil
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return err
	}
	return &os.PathError{Op: "write", Path: path, Err: err}
}

// Matches reports whether path already holds data with opts, by the same
// rules Write uses to decide that there is nothing to do. Dry runs and checks
// call it so that they agree with Write. A stale temp file of path (see
// sweep) is something Write would remove, so it makes Matches false.
func Matches(path string, data []byte, opts Options) (bool, error) {
	dir, name := filepath.Split(filepath.Clean(path))
	dirfd, err := openDir(dir, nil)
	if err != nil {
		if isNotExist(err) {
			return false, nil
		}
		return false, err
	}
	defer unix.Close(dirfd)
	same, err := matches(dirfd, name, data, opts)
	if same && err == nil && len(stale(dirfd, ofName(name), false)) > 0 {
		same = false
	}
	return same, wrap(path, err)
}

// tempSuffixLen is the length of the random hex suffix of a temp file name.
const tempSuffixLen = 12

// sweepGrace spares a temp file created a moment ago: its writer may not
// have taken its lock yet.
const sweepGrace = 5 * time.Second

func tempPrefix(name string) string { return "." + name + ".tmp-" }

// Every writer holds an exclusive flock on its temp file from creation to
// rename, so a temp file nobody holds was left by a writer that died (kill
// -9, power loss) and is older than every write still running. Only names
// Write itself makes are considered, never through a symlink.

// sweep removes the stale temp files in dirfd that match. It is best effort:
// it never fails the write or the directory step that calls it.
func sweep(dirfd int, match func(string) bool) { stale(dirfd, match, true) }

// stale lists the stale temp files in dirfd that match, removing them when
// remove is set.
func stale(dirfd int, match func(string) bool, remove bool) []string {
	dup, err := unix.Dup(dirfd)
	if err != nil {
		return nil
	}
	d := os.NewFile(uintptr(dup), "")
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	var out []string
	for _, n := range names {
		if match(n) && isStale(dirfd, n, remove) {
			out = append(out, n)
		}
	}
	return out
}

// ofName matches the temp files of one file; anyTemp those of every file.
func ofName(name string) func(string) bool {
	return func(n string) bool { return tempSuffix(strings.TrimPrefix(n, tempPrefix(name)), n) }
}

func anyTemp(n string) bool {
	i := strings.LastIndex(n, ".tmp-")
	return strings.HasPrefix(n, ".") && i > 1 && tempSuffix(n[i+len(".tmp-"):], n)
}

func tempSuffix(suffix, n string) bool {
	if suffix == n || len(suffix) != tempSuffixLen {
		return false
	}
	_, err := hex.DecodeString(suffix)
	return err == nil
}

func isStale(dirfd int, n string, remove bool) bool {
	fd, err := unix.Openat(dirfd, n, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return false
	}
	if time.Since(time.Unix(st.Mtim.Unix())) < sweepGrace {
		return false
	}
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil {
		return false // a live writer holds it
	}
	if remove {
		return unix.Unlinkat(dirfd, n, 0) == nil
	}
	return true
}

// LeftoverTemps counts the stale temp files of path that the next Write of
// path removes, so a plan can say why it is not done.
func LeftoverTemps(path string) int {
	dir, name := filepath.Split(filepath.Clean(path))
	dirfd, err := openDir(dir, nil)
	if err != nil {
		return 0
	}
	defer unix.Close(dirfd)
	return len(stale(dirfd, ofName(name), false))
}
