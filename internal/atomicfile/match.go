package atomicfile

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

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

// DirProblem says what keeps path from being a directory with opts ("" when
// nothing does), in words fit for a plan or a verify message.
func DirProblem(path string, opts Options) (string, error) {
	fd, err := openDir(path, nil)
	if err != nil {
		if isNotExist(err) {
			return "missing", nil
		}
		return "", err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", err
	}
	want := uint32(opts.Mode.Perm() | special(opts.Mode))
	switch {
	case !owned(st, opts) && !adoptable(st, opts):
		return foreignDir(path, st, opts).Error(), nil
	case !owned(st, opts):
		return fmt.Sprintf("owned by uid %d gid %d, want uid %d", st.Uid, st.Gid, wantUID(opts)), nil
	case st.Mode&0o7777 != want:
		return fmt.Sprintf("mode %04o, want %04o", st.Mode&0o7777, want), nil
	}
	if private(opts) {
		if n := len(stale(fd, anyTemp, false)); n > 0 {
			return fmt.Sprintf("holds %d temp file(s) an interrupted write left behind", n), nil
		}
	}
	return "", nil
}
