package flock

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/backoff"
	"golang.org/x/sys/unix"
)

// Poll bounds: the first retry comes quickly (the holder is usually a
// moment from done), later ones at most every maxPoll.
const (
	minPoll = 5 * time.Millisecond
	maxPoll = 250 * time.Millisecond
)

// Dir locks the existing directory dir itself.
func Dir(ctx context.Context, dir string) (unlock func(), err error) {
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return wait(ctx, f)
}

// File locks path, created empty when missing and never through a symlink.
// The file is never written or removed: removing it would let two waiters
// lock two different inodes.
func File(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return wait(ctx, f)
}

// wait polls until the lock is ours. When ctx ends first it returns
// ctx.Err() itself, so the caller can say whom it was waiting for.
func wait(ctx context.Context, f *os.File) (func(), error) {
	for n := 1; ; n++ {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		d := backoff.Exp(minPoll, maxPoll, n)
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(backoff.Jitter(d, d/2, rand.Int64N)):
		}
	}
}
