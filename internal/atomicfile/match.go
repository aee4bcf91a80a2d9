package atomicfile

import (
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Matches reports whether path already holds data with opts, by the same
// rules Write uses to decide that there is nothing to do. Dry runs and checks
// call it so that they agree with Write.
func Matches(path string, data []byte, opts Options) (bool, error) {
	dir, name := filepath.Split(filepath.Clean(path))
	dirfd, err := openDir(dir, false)
	if err != nil {
		if isNotExist(err) {
			return false, nil
		}
		return false, err
	}
	defer unix.Close(dirfd)
	same, err := matches(dirfd, name, data, opts)
	return same, wrap(path, err)
}

// DirMatches reports whether path is a directory with opts.
func DirMatches(path string, opts Options) (bool, error) {
	fd, err := openDir(path, false)
	if err != nil {
		if isNotExist(err) {
			return false, nil
		}
		return false, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, err
	}
	return owned(st, opts) && st.Mode&0o7777 == uint32(opts.Mode.Perm()|special(opts.Mode)), nil
}
