package atomicfile

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// tempSuffixLen is the length of the random hex suffix of a temp file name.
const tempSuffixLen = 12

// sweepGrace spares a temp file created a moment ago: its writer may not
// have taken its lock yet.
const sweepGrace = 5 * time.Second

func tempPrefix(name string) string { return "." + name + ".tmp-" }

// Every writer holds an exclusive flock on its temp file from creation to
// rename, so a temp file nobody holds was left by a writer that died (kill
// -9, power loss) and is older than every write still running. Only names
// Write itself makes are considered, never through a symlink.

// sweep removes the stale temp files in dirfd that match. It is best effort:
// it never fails the write or the directory step that calls it.
func sweep(dirfd int, match func(string) bool) { stale(dirfd, match, true) }

// stale lists the stale temp files in dirfd that match, removing them when
// remove is set.
func stale(dirfd int, match func(string) bool, remove bool) []string {
	dup, err := unix.Dup(dirfd)
	if err != nil {
		return nil
	}
	d := os.NewFile(uintptr(dup), "")
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	var out []string
	for _, n := range names {
		if match(n) && isStale(dirfd, n, remove) {
			out = append(out, n)
		}
	}
	return out
}

// ofName matches the temp files of one file; anyTemp those of every file.
func ofName(name string) func(string) bool {
	return func(n string) bool { return tempSuffix(strings.TrimPrefix(n, tempPrefix(name)), n) }
}

func anyTemp(n string) bool {
	i := strings.LastIndex(n, ".tmp-")
	return strings.HasPrefix(n, ".") && i > 1 && tempSuffix(n[i+len(".tmp-"):], n)
}

func tempSuffix(suffix, n string) bool {
	if suffix == n || len(suffix) != tempSuffixLen {
		return false
	}
	_, err := hex.DecodeString(suffix)
	return err == nil
}

func isStale(dirfd int, n string, remove bool) bool {
	fd, err := unix.Openat(dirfd, n, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return false
	}
	if time.Since(time.Unix(st.Mtim.Unix())) < sweepGrace {
		return false
	}
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil {
		return false // a live writer holds it
	}
	if remove {
		return unix.Unlinkat(dirfd, n, 0) == nil
	}
	return true
}

// LeftoverTemps counts the stale temp files of path that the next Write of
// path removes, so a plan can say why it is not done.
func LeftoverTemps(path string) int {
	dir, name := filepath.Split(filepath.Clean(path))
	dirfd, err := openDir(dir, nil)
	if err != nil {
		return 0
	}
	defer unix.Close(dirfd)
	return len(stale(dirfd, ofName(name), false))
}
