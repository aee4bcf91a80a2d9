package images

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// trustedPath says whether only root can change what dir names. A user who
// can write any ancestor of images.dir can rename the cache away and put a
// directory of their own, with their own images, at the path the daemon
// hands to jobs. So every existing component from / down to dir must be:
//
//   - a directory owned by root, writable by no one else: not by others at
//     all (a sticky 1777 directory is refused too: the sticky bit is the
//     file server's to enforce on a shared filesystem, and a user can
//     create the next component first), and by its group only when that
//     group is root's;
//   - or a symlink owned by root, whose target is checked the same way.
//
// A component that does not exist yet is made by the agent (root, 0755).
func trustedPath(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("%s is not an absolute path", dir)
	}
	todo := split(dir)
	cur := "/"
	if err := trustedDir(cur); err != nil {
		return err
	}
	for hops := 0; len(todo) > 0; {
		next := filepath.Join(cur, todo[0])
		var st unix.Stat_t
		if err := unix.Lstat(next, &st); err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return fmt.Errorf("%s: %w", next, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			if hops++; hops > 40 || st.Uid != 0 {
				return fmt.Errorf("%s is a symlink owned by uid %d: only root's symlinks are followed on the way to images.dir", next, st.Uid)
			}
			target, err := os.Readlink(next)
			if err != nil {
				return err
			}
			if filepath.IsAbs(target) {
				cur = "/"
			}
			todo = append(split(target), todo[1:]...)
			continue
		}
		if err := trustedStat(next, st); err != nil {
			return err
		}
		cur, todo = next, todo[1:]
	}
	return nil
}

func trustedDir(path string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return trustedStat(path, st)
}

func trustedStat(path string, st unix.Stat_t) error {
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("%s is not a directory", path)
	case st.Uid != 0:
		return fmt.Errorf("%s is owned by uid %d, not root: that user could put their own images where the cache is", path, st.Uid)
	case st.Mode&0o002 != 0:
		return fmt.Errorf("%s is writable by every user (mode %04o): any user could put their own images where the cache is", path, st.Mode&0o7777)
	case st.Mode&0o020 != 0 && st.Gid != 0:
		return fmt.Errorf("%s is writable by group %d (mode %04o): its members could put their own images where the cache is", path, st.Gid, st.Mode&0o7777)
	}
	return nil
}

// trustFix is what to do about an untrusted images.dir.
func trustFix(dir string) string {
	return fmt.Sprintf("make every directory above %s root's and writable by root alone (chown root:root, chmod go-w); "+
		"a shared filesystem whose top must stay 1777 (/fsx): mount a root-owned 0755 directory of it where only root can write "+
		"(mount --bind /fsx/enroot-agent-images %s, or a Lustre subdirectory mount) and keep images.dir there; then restart the agent", dir, dir)
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
