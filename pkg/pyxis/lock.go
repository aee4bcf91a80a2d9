package pyxis

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/flock"
)

// LockName is the lock file in the main plugstack's directory. Its leading
// dot keeps it out of every include glob.
const LockName = ".enroot-agent-plugstack.lock"

// lockPlugstack takes an exclusive flock on the lock file in dir (the main
// plugstack's directory), waiting until ctx ends or timeout passes. On NFSv4
// Linux turns flock into a whole-file POSIX lock that the server arbitrates,
// so every node sharing /opt/slurm waits for the others.
func lockPlugstack(ctx context.Context, dir string, timeout time.Duration) (func(), error) {
	path := filepath.Join(dir, LockName)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	unlock, err := flock.File(ctx, path)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("lock %s: another node held it for %s: %w", path, timeout, err)
	}
	return unlock, err
}
