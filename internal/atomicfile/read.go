package atomicfile

import (
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ReadFile reads path through the same walk Write uses, so a root process
// never reads through a symlink an unprivileged user planted (which could
// copy another file's content into a file that user can read). A missing
// file reads as os.ErrNotExist.
func ReadFile(path string) ([]byte, error) {
	dir, name := filepath.Split(filepath.Clean(path))
	dirfd, err := openDir(dir, false)
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
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &os.PathError{Op: "read", Path: path, Err: unix.EINVAL}
	}
	return io.ReadAll(f)
}
