package atomicfile

import (
	"encoding/hex"
	"os"
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

// sweep removes the temp files of name that a writer killed between create
// and rename (kill -9, power loss) left in dirfd. Every writer holds an
// exclusive flock on its temp file until the rename, so a temp file nobody
// holds is older than every write still running, and is removed. Only names
// Write itself makes are touched, never through a symlink. A sweep is best
// effort: it never fails the write.
func sweep(dirfd int, name string) {
	dup, err := unix.Dup(dirfd)
	if err != nil {
		return
	}
	d := os.NewFile(uintptr(dup), name)
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	for _, n := range names {
		if isTempOf(n, name) {
			removeIfStale(dirfd, n)
		}
	}
}

func isTempOf(n, name string) bool {
	suffix, ok := strings.CutPrefix(n, tempPrefix(name))
	if !ok || len(suffix) != tempSuffixLen {
		return false
	}
	_, err := hex.DecodeString(suffix)
	return err == nil
}

func removeIfStale(dirfd int, n string) {
	fd, err := unix.Openat(dirfd, n, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return
	}
	if time.Since(time.Unix(st.Mtim.Unix())) < sweepGrace {
		return
	}
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil {
		return // a live writer holds it
	}
	_ = unix.Unlinkat(dirfd, n, 0)
}
