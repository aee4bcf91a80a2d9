package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// dirFlags open a directory for the *at calls.
const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC

// openDir opens dir for use with the *at system calls. It resolves the path one
// component at a time, so that a symlink swapped in by another user between a
// check and a use cannot redirect the write. A symlink is followed only when
// both it and the directory holding it belong to root or to us: those are the
// links an administrator made (for example /var/run -> /run). With mk set,
// missing components are made with mk's mode and owner. A relative dir is
// refused: the walk starts at /, so it would land outside the working
// directory the caller meant.
func openDir(dir string, mk *Options) (int, error) {
	if !filepath.IsAbs(dir) {
		return -1, &os.PathError{Op: "resolve", Path: dir, Err: errNotAbs}
	}
	root, err := unix.Open("/", dirFlags, 0)
	if err != nil {
		return -1, err
	}
	w := &walk{path: dir, fd: root, comps: split(dir), mk: mk}
	for len(w.comps) > 0 {
		if err := w.step(); err != nil {
			unix.Close(w.fd)
			return -1, err
		}
	}
	return w.fd, nil
}

// walk is one resolution in progress: the directory reached so far, the
// components left, and how many symlinks were followed.
type walk struct {
	path  string // what is resolved, for errors
	fd    int
	comps []string
	hops  int
	mk    *Options // make missing components like this; nil: do not
	made  string   // the component the last step made, to be owned when entered
}

// step resolves the next component, which is one of three cases: a real
// directory (entered), a missing one (created, then entered at the next
// step), or a symlink (replaced by its target when it can be trusted).
func (w *walk) step() error {
	c := w.comps[0]
	justMade := w.made == c
	w.made = ""
	next, err := unix.Openat(w.fd, c, dirFlags|unix.O_NOFOLLOW, 0)
	switch {
	case err == nil && justMade:
		if err := own(next, *w.mk); err != nil {
			unix.Close(next)
			return &os.PathError{Op: "open", Path: w.path, Err: err}
		}
		fallthrough
	case err == nil:
		unix.Close(w.fd)
		w.fd, w.comps = next, w.comps[1:]
		return nil
	case errors.Is(err, unix.ENOENT) && w.mk != nil:
		return w.mkdir(c)
	case errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR):
		return w.follow(c)
	}
	return &os.PathError{Op: "open", Path: w.path, Err: err}
}

// mkdir creates the missing component c; another process creating it first
// is as good.
func (w *walk) mkdir(c string) error {
	err := unix.Mkdirat(w.fd, c, uint32(w.mk.Mode.Perm()))
	switch {
	case err == nil:
		w.made = c
	case !errors.Is(err, unix.EEXIST):
		return &os.PathError{Op: "open", Path: w.path, Err: err}
	}
	return nil
}

func split(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

func isNotExist(err error) bool { return errors.Is(err, unix.ENOENT) }

// own gives a directory the walk just made its owner and exact mode (mkdir
// applies the umask), through its descriptor.
func own(fd int, mk Options) error {
	if mk.UID != -1 || mk.GID != -1 {
		if err := unix.Fchown(fd, mk.UID, mk.GID); err != nil {
			return err
		}
	}
	return unix.Fchmod(fd, uint32(mk.Mode.Perm()))
}

var errNotAbs = errors.New("path is not absolute")

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
