package images

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/flock"
	"golang.org/x/sys/unix"
)

// Lease timing, for filesystems without flock: the holder renews the lease
// every leaseRenew; a lease not renewed for leaseTTL belongs to a dead
// importer (a node that crashed or lost the mount) and is taken over.
const (
	leaseTTL   = 2 * time.Minute
	leaseRenew = 20 * time.Second
	leasePoll  = 500 * time.Millisecond
)

// lock takes the lock .locks/<name>.lock across every process and node
// that shares the directory: the import lock of an image from a source
// (Verified.key), or a digest's own lock for publishing and eviction. It is
// flock where the filesystem supports it (a dead
// holder's lock goes with its process; NFSv4 and Lustre with -o flock
// arbitrate it on the server), else a lease file renewed by a heartbeat.
func (s *Store) lock(ctx context.Context, name string) (func(), error) {
	path := filepath.Join(s.Dir, ".locks", name+".lock")
	if !s.leaseOnly {
		unlock, err := flock.File(ctx, path)
		if err == nil || !noFlock(err) {
			return unlock, err
		}
	}
	return lease(ctx, path+".lease")
}

// noFlock says the filesystem has no flock (Lustre mounted without -o flock
// answers ENOSYS, some NFS setups ENOLCK).
func noFlock(err error) bool {
	for _, e := range []error{unix.ENOSYS, unix.ENOLCK, unix.EOPNOTSUPP, unix.EINVAL} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// lease creates path exclusively; while it exists and is fresh, others wait.
func lease(ctx context.Context, path string) (func(), error) {
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
		if err == nil {
			host, _ := os.Hostname()
			fmt.Fprintf(f, "%s %d\n", host, os.Getpid())
			f.Close()
			return renew(path), nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("lease %s: %w", path, err)
		}
		if st, err := os.Lstat(path); err == nil && time.Since(st.ModTime()) > leaseTTL {
			breakLease(path)
			continue
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(leasePoll):
		}
	}
}

// breakLease removes a stale lease. It is renamed away first: of several
// waiters that found it stale, one rename succeeds and the others find it
// gone, so no waiter removes a lease another has just taken.
func breakLease(path string) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	stale := path + ".stale-" + hex.EncodeToString(b)
	if os.Rename(path, stale) == nil {
		_ = os.Remove(stale)
	}
}

// renew heartbeats the lease until the returned unlock removes it.
func renew(path string) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(leaseRenew)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				touch(path)
			}
		}
	}()
	return func() { close(stop); <-done; _ = os.Remove(path) }
}

// heartbeat is .locks/<key>.progress, whose mtime an import touches as it
// moves, for the requests of other processes and nodes that wait on its
// lock. It is a file of the agent's own, never followed through a symlink.
type heartbeat string

func (s *Store) progressFile(key string) heartbeat {
	return heartbeat(filepath.Join(s.Dir, ".locks", key+".progress"))
}

// touch sets the mtime to now, creating the file when missing.
func (h heartbeat) touch() {
	now := time.Now()
	ts := []unix.Timespec{unix.NsecToTimespec(now.UnixNano()), unix.NsecToTimespec(now.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, string(h), ts, unix.AT_SYMLINK_NOFOLLOW); errors.Is(err, unix.ENOENT) {
		if fd, err := unix.Open(string(h), unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600); err == nil {
			_ = unix.Close(fd)
		}
	}
}

func (h heartbeat) mtime() time.Time {
	var st unix.Stat_t
	if unix.Lstat(string(h), &st) != nil {
		return time.Time{}
	}
	return time.Unix(st.Mtim.Unix())
}
