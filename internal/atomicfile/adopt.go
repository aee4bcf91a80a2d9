package atomicfile

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Adopted is what Adopt found in the file it put in place.
type Adopted struct {
	Size   int64
	SHA256 string // hex
	MTime  time.Time
}

// Adopt moves src, a large file another process wrote (an image an
// unprivileged importer produced), to dst with opts, without copying it and
// without trusting src's directory: src must be a regular file with one link
// owned by producerUID (no symlink, no hard link to a file of someone
// else's); the file renamed into dst's directory must be the very inode that
// was checked; its owner and mode are set through the open descriptor, then
// it is hashed and synced under a hidden temp name and renamed over dst.
func Adopt(src, dst string, producerUID int, opts Options) (Adopted, error) {
	sdir, sname := filepath.Split(filepath.Clean(src))
	sfd, err := openDir(sdir, nil)
	if err != nil {
		return Adopted{}, err
	}
	defer unix.Close(sfd)
	fd, err := unix.Openat(sfd, sname, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return Adopted{}, &os.PathError{Op: "open", Path: src, Err: err}
	}
	f := os.NewFile(uintptr(fd), src)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return Adopted{}, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 || int(st.Uid) != producerUID {
		return Adopted{}, fmt.Errorf("%s: want a regular file with one link owned by uid %d, found mode %o, %d links, uid %d", src, producerUID, st.Mode, st.Nlink, st.Uid)
	}
	ddir, dname := filepath.Split(filepath.Clean(dst))
	dfd, err := openDir(ddir, nil)
	if err != nil {
		return Adopted{}, err
	}
	defer unix.Close(dfd)
	tmp := tempName(dname)
	if err := unix.Renameat(sfd, sname, dfd, tmp); err != nil {
		return Adopted{}, &os.PathError{Op: "rename", Path: src, Err: err}
	}
	a, err := seal(f, st, dfd, tmp, opts)
	if err == nil {
		err = unix.Renameat(dfd, tmp, dfd, dname)
	}
	if err != nil {
		_ = unix.Unlinkat(dfd, tmp, 0)
		return Adopted{}, wrap(dst, err)
	}
	return a, wrap(dst, unix.Fsync(dfd))
}

// seal checks that tmp is the inode f checked, takes it over and hashes it.
func seal(f *os.File, st unix.Stat_t, dfd int, tmp string, opts Options) (Adopted, error) {
	var moved unix.Stat_t
	if err := unix.Fstatat(dfd, tmp, &moved, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return Adopted{}, err
	}
	if moved.Dev != st.Dev || moved.Ino != st.Ino {
		return Adopted{}, fmt.Errorf("the file was swapped while being adopted")
	}
	if err := f.Chown(wantUID(opts), opts.GID); err != nil {
		return Adopted{}, err
	}
	if err := f.Chmod(opts.Mode.Perm()); err != nil {
		return Adopted{}, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return Adopted{}, err
	}
	var after unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &after); err != nil {
		return Adopted{}, err
	}
	if after.Size != st.Size || after.Mtim != st.Mtim {
		return Adopted{}, fmt.Errorf("the file changed while being adopted: its writer is still running")
	}
	if err := f.Sync(); err != nil {
		return Adopted{}, err
	}
	return Adopted{Size: after.Size, SHA256: hex.EncodeToString(h.Sum(nil)), MTime: time.Unix(after.Mtim.Unix())}, nil
}

func tempName(name string) string {
	suffix := make([]byte, tempSuffixLen/2)
	_, _ = rand.Read(suffix)
	return tempPrefix(name) + hex.EncodeToString(suffix)
}
