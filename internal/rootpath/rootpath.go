package rootpath

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// maxHops bounds the symlinks followed, as the kernel's ELOOP does.
const maxHops = 40

// Error names the component that fails and why.
type Error struct {
	Path   string // the component, as reached (symlinks resolved before it)
	Reason string // "is owned by uid 1000, not root", ...
}

func (e *Error) Error() string { return e.Path + " " + e.Reason }

// Check returns nil when only root can change what dir names, and an
// *Error naming the first component that someone else could change (or a
// plain error when a component cannot be read).
func Check(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("%s is not an absolute path", dir)
	}
	cur := "/"
	if err := checkDir(cur); err != nil {
		return err
	}
	todo := split(dir)
	for hops := 0; len(todo) > 0; {
		next := filepath.Join(cur, todo[0])
		var st unix.Stat_t
		if err := unix.Lstat(next, &st); err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return fmt.Errorf("%s: %w", next, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			if err := checkStat(next, st); err != nil {
				return err
			}
			cur, todo = next, todo[1:]
			continue
		}
		if hops++; hops > maxHops {
			return &Error{Path: next, Reason: fmt.Sprintf("is reached through more than %d symlinks", maxHops)}
		}
		if st.Uid != 0 {
			return &Error{Path: next, Reason: fmt.Sprintf("is a symlink owned by uid %d: only root's symlinks are followed", st.Uid)}
		}
		target, err := os.Readlink(next)
		if err != nil {
			return err
		}
		if filepath.IsAbs(target) {
			cur = "/"
		}
		todo = append(split(target), todo[1:]...)
	}
	return nil
}

func checkDir(path string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return checkStat(path, st)
}

// checkStat is the rule for one directory (or, with CheckFile, one file).
func checkStat(path string, st unix.Stat_t) error {
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return &Error{Path: path, Reason: "is not a directory"}
	case st.Uid != 0:
		return &Error{Path: path, Reason: fmt.Sprintf("is owned by uid %d, not root", st.Uid)}
	}
	return checkWritable(path, st)
}

func checkWritable(path string, st unix.Stat_t) error {
	switch {
	case st.Mode&0o002 != 0:
		return &Error{Path: path, Reason: fmt.Sprintf("is writable by every user (mode %04o)", st.Mode&0o7777)}
	case st.Mode&0o020 != 0 && st.Gid != 0:
		return &Error{Path: path, Reason: fmt.Sprintf("is writable by group %d (mode %04o)", st.Gid, st.Mode&0o7777)}
	}
	return nil
}

// CheckFile applies the same rule to an open regular file, by its
// descriptor (so the file checked is the file then read): owned by root and
// writable by no one else.
func CheckFile(f *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("%s: %w", f.Name(), err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return &Error{Path: f.Name(), Reason: "is not a regular file"}
	case st.Uid != 0:
		return &Error{Path: f.Name(), Reason: fmt.Sprintf("is owned by uid %d, not root", st.Uid)}
	}
	return checkWritable(f.Name(), st)
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
