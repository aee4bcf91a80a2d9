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

	"golang.org/x/sys/unix"
)

// Options say what the file must look like besides its content. A UID of -1
// means "whoever runs the agent" (root on a node; tests may run as anyone),
// and is required like any other owner. A GID of -1 takes whatever group a
// new file gets, and accepts any.
type Options struct {
	Mode     os.FileMode
	UID, GID int
}

// Default is a root-owned, world-readable file.
var Default = Options{Mode: 0o644, UID: -1, GID: -1}

// Write makes path hold exactly data with opts. It compares first and writes
// nothing when content, mode and owner already match, so a converged node sees
// no mtime change. Otherwise it writes a temp file in the same directory, named
// with a leading dot and a random suffix so that no glob such as *.conf or *
// can pick it up, fsyncs it, renames it over path and fsyncs the directory.
// It never follows a symlink at path. It reports whether it changed anything.
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
