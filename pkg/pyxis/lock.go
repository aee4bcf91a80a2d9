package pyxis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"golang.org/x/sys/unix"
)

// LockName is the lock file in the main plugstack's directory. Its leading
// dot keeps it out of every include glob.
const LockName = ".enroot-agent-plugstack.lock"

// lockDir takes an exclusive flock on dir's lock file, waiting until ctx ends
// or timeout passes. On NFSv4 Linux turns flock into a whole-file POSIX
// lock that the server arbitrates, so every node sharing /opt/slurm waits for
// the others. The file is created empty and never written or removed:
// removing it would let two nodes lock two different inodes.
func lockDir(ctx context.Context, dir string, timeout time.Duration) (func(), error) {
	path := filepath.Join(dir, LockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open plugstack lock: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Poll rather than block: a blocking flock cannot be cancelled.
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 250*time.Millisecond) {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: another node held it for %s: %w", path, timeout, ctx.Err())
		case <-time.After(wait/2 + rand.N(wait)):
		}
	}
}

// mkdirIfMissing creates a world-readable directory (Slurm's clients run as
// every user) only when it is missing. An existing one is the
// administrator's, on a shared /opt/slurm perhaps: its mode and owner are
// left as they are.
func mkdirIfMissing(dir string) (bool, error) {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return false, nil
	}
	return atomicfile.EnsureDir(dir, atomicfile.Options{Mode: 0o755, UID: -1, GID: -1})
}
