// Package atomicfile is the only way the agent writes to the host: whole files
// replaced atomically, and directories created with exact modes, through a path
// walk that never follows a symlink an unprivileged user could have planted.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// maxSymlinks bounds resolution the way the kernel's ELOOP does.
const maxSymlinks = 40

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
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	comps := split(dir)
	made := ""
	for hops := 0; len(comps) > 0; {
		c := comps[0]
		comps = comps[1:]
		justMade := made == c
		made = ""
		next, err := unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) && mk != nil {
			if err = unix.Mkdirat(fd, c, uint32(mk.Mode.Perm())); err == nil || errors.Is(err, unix.EEXIST) {
				if err == nil {
					made = c
				}
				comps = append([]string{c}, comps...)
				continue
			}
		}
		if err == nil && justMade {
			if err = own(next, *mk); err != nil {
				unix.Close(next)
			}
		}
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			target, lerr := trustedLink(fd, c)
			if lerr != nil {
				unix.Close(fd)
				return -1, fmt.Errorf("%s: %w", dir, lerr)
			}
			if hops++; hops > maxSymlinks {
				unix.Close(fd)
				return -1, &os.PathError{Op: "resolve", Path: dir, Err: unix.ELOOP}
			}
			if filepath.IsAbs(target) {
				unix.Close(fd)
				if fd, err = unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
					return -1, err
				}
			}
			comps = append(split(target), comps...)
			continue
		}
		unix.Close(fd)
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: dir, Err: err}
		}
		fd = next
	}
	return fd, nil
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

func trusted(uid uint32) bool { return uid == 0 || int(uid) == os.Geteuid() }

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
