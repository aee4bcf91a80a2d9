package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// EnsureDir makes path a directory with opts and reports whether it changed
// anything. Missing parents are made for the same owner: mode 0755 for the
// agent's own directories, opts' mode for a user's (a root-owned ~/.config
// would lock its user out). An existing directory with another mode is
// corrected; one with another owner only when taking it over is safe (see
// fixDir), and otherwise is an error that says what to do.
func EnsureDir(path string, opts Options) (bool, error) {
	parent, name := filepath.Split(filepath.Clean(path))
	if name == "" || name == "/" {
		return false, nil
	}
	pfd, err := openDir(parent, parentOpts(opts))
	if err != nil {
		return false, err
	}
	defer unix.Close(pfd)
	created := false
	err = unix.Mkdirat(pfd, name, uint32(opts.Mode.Perm()))
	switch {
	case err == nil:
		created = true
	case !errors.Is(err, unix.EEXIST):
		return false, &os.PathError{Op: "mkdir", Path: path, Err: err}
	}
	fd, err := openDir(path, nil)
	if err != nil {
		return created, err
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	fixed, err := fixDir(f, opts, created)
	if err == nil && private(opts) {
		fixed = len(stale(fd, anyTemp, true)) > 0 || fixed
	}
	return created || fixed, err
}

// private says whether only the directory's owner may create entries in it:
// then every temp-file name in it is the agent's own. In a directory users
// can write (/run/enroot) a name is no proof, and verify must not turn a
// user's file into a failing check.
func private(opts Options) bool {
	return opts.Mode.Perm()&0o022 == 0 && wantUID(opts) == os.Geteuid()
}

func parentOpts(opts Options) *Options {
	if opts.UID == -1 {
		return &Options{Mode: 0o755, UID: -1, GID: -1}
	}
	return &Options{Mode: opts.Mode.Perm(), UID: opts.UID, GID: opts.GID}
}

// fixDir corrects mode and owner through the open descriptor, so a directory
// swapped in after the walk cannot receive them.
func fixDir(f *os.File, opts Options, created bool) (bool, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false, err
	}
	changed := false
	if !owned(st, opts) {
		if !created && !adoptable(st, opts) {
			return false, foreignDir(f.Name(), st, opts)
		}
		if err := f.Chown(wantUID(opts), opts.GID); err != nil {
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

// adoptable says whether a directory owned by someone else may simply be
// chowned. A directory root or the agent already owns, yes. A shared 1777
// directory (/run/enroot/data), yes: each entry in it is owned by whoever
// made it, so taking the directory back hides nothing, and the sticky bit
// then stops the user from renaming others' entries. Any other directory a
// user made first may hold files they planted for the agent to trust.
func adoptable(st unix.Stat_t, opts Options) bool {
	return trusted(st.Uid) || opts.Mode.Perm() == 0o777 && opts.Mode&os.ModeSticky != 0
}

func foreignDir(path string, st unix.Stat_t, opts Options) error {
	return fmt.Errorf("%s is owned by uid %d, not uid %d: someone else made it first and may have left files in it for the agent to trust; check what is inside, remove it, and run apply again",
		path, st.Uid, wantUID(opts))
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

// MkdirIfMissing creates dir, world-readable and owned by root (parents
// too), only when it is missing. An existing directory is someone else's,
// the administrator's on a shared /opt/slurm perhaps: its mode and owner
// are left as they are.
func MkdirIfMissing(dir string) error {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return nil
	}
	_, err := EnsureDir(dir, Options{Mode: 0o755, UID: -1, GID: -1})
	return err
}
