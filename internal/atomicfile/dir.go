package atomicfile

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// EnsureDir makes path a directory with opts, creating missing parents with
// mode 0755. An existing directory with another mode or owner is corrected.
// It reports whether it changed anything.
func EnsureDir(path string, opts Options) (bool, error) {
	parent, name := filepath.Split(filepath.Clean(path))
	if name == "" || name == "/" {
		return false, nil
	}
	pfd, err := openDir(parent, true)
	if err != nil {
		return false, err
	}
	defer unix.Close(pfd)
	changed := false
	err = unix.Mkdirat(pfd, name, uint32(opts.Mode.Perm()))
	switch {
	case err == nil:
		changed = true
	case !errors.Is(err, unix.EEXIST):
		return false, &os.PathError{Op: "mkdir", Path: path, Err: err}
	}
	fd, err := openDir(path, false)
	if err != nil {
		return changed, err
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	fixed, err := fixDir(f, opts)
	return changed || fixed, err
}

// fixDir corrects mode and owner through the open descriptor, so a directory
// swapped in after the walk cannot receive them.
func fixDir(f *os.File, opts Options) (bool, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false, err
	}
	changed := false
	if !owned(st, opts) {
		if err := f.Chown(opts.UID, opts.GID); err != nil {
			return false, err
		}
		changed = true
	}
	want := opts.Mode.Perm() | special(opts.Mode)
	if changed || os.FileMode(st.Mode&0o7777) != want {
		if err := f.Chmod(opts.Mode.Perm() | opts.Mode&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky)); err != nil {
			return false, err
		}
		changed = true
	}
	return changed, nil
}
