package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// maxSymlinks bounds resolution the way the kernel's ELOOP does.
const maxSymlinks = 40

// follow replaces the symlink c by its target, resolved from / when it is
// absolute, only when root or we own both the link and its directory.
func (w *walk) follow(c string) error {
	target, err := trustedLink(w.fd, c)
	if err != nil {
		return fmt.Errorf("%s: %w", w.path, err)
	}
	if w.hops++; w.hops > maxSymlinks {
		return &os.PathError{Op: "resolve", Path: w.path, Err: unix.ELOOP}
	}
	if filepath.IsAbs(target) {
		root, err := unix.Open("/", dirFlags, 0)
		if err != nil {
			return err
		}
		unix.Close(w.fd)
		w.fd = root
	}
	w.comps = append(split(target), w.comps[1:]...)
	return nil
}

// trustedLink returns the target of the symlink name in dirfd, or an error when
// name is not a symlink or is one that someone other than root or us controls.
func trustedLink(dirfd int, name string) (string, error) {
	var st, parent unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return "", err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		return "", fmt.Errorf("%s is not a directory", name)
	}
	if err := unix.Fstat(dirfd, &parent); err != nil {
		return "", err
	}
	if !trusted(st.Uid) || !trusted(parent.Uid) {
		return "", fmt.Errorf("refusing to follow symlink %q owned by uid %d in a directory owned by uid %d", name, st.Uid, parent.Uid)
	}
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func trusted(uid uint32) bool { return uid == 0 || int(uid) == os.Geteuid() }
