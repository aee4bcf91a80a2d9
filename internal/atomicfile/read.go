package atomicfile

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// MaxRead bounds what ReadFile reads. The files it serves (netrc files, the
// agent's small records) hold kilobytes; a user who owns one can make it as
// large as they like, sparse and free, and the root agent must not load it.
const MaxRead = 1 << 20

// ErrTooLarge is the error of a file over MaxRead: it is refused, unread
// and left as it is.
var ErrTooLarge = errors.New("larger than 1 MiB")

// ReadFile reads path through the same walk Write uses, so a root process
// never reads through a symlink an unprivileged user planted (which could
// copy another file's content into a file that user can read), nor through a
// hard link in a directory such a user owns (the same copy, where
// fs.protected_hardlinks=0 lets them link a file they cannot read). It reads
// at most MaxRead bytes. A missing file reads as os.ErrNotExist. It is the
// one way the agent reads a file a user may be able to write.
func ReadFile(path string) ([]byte, error) {
	dir, name := filepath.Split(filepath.Clean(path))
	dirfd, err := openDir(dir, nil)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dirfd)
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	if err := readable(dirfd, fd); err != nil {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxRead+1))
	if err == nil && len(data) > MaxRead {
		err = &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (it grew while being read): refusing it, left as it is", ErrTooLarge)}
	}
	if err != nil {
		return nil, err
	}
	return data, nil
}

// readable vets an open file before a byte of it is read.
func readable(dirfd, fd int) error {
	var st, parent unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return unix.EINVAL
	}
	if st.Size > MaxRead {
		return fmt.Errorf("%d bytes, %w: refusing it, left as it is", st.Size, ErrTooLarge)
	}
	if st.Nlink > 1 {
		if err := unix.Fstat(dirfd, &parent); err != nil {
			return err
		}
		if !trusted(parent.Uid) {
			return fmt.Errorf("refusing a file with %d hard links in a directory owned by uid %d: it may be a link to a file that user cannot read; remove it", st.Nlink, parent.Uid)
		}
	}
	return nil
}

// SHA256 is the hex sha256 of the file at path.
func SHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
