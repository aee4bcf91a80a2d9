package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/importer"
	"go.uber.org/zap"
)

// Cache serves images by verified digest, importing each one once per
// directory and source.
type Cache struct {
	Store         *Store
	Enroot        *Enroot
	Registry      *Registry
	Node          string
	MaxSize       int64 // 0: unbounded
	ImportTimeout time.Duration
	Limits        Limits
	Log           *zap.Logger
	Stats         *Stats

	mu       sync.Mutex
	inflight map[string]*flight
	guard    guard
	distrust atomic.Pointer[error] // why images.dir is no longer safe
}

// recheck checks again that only root can change the path to the
// directory (the upkeep does, every minute); until it is safe again, no
// request is served from it.
func (c *Cache) recheck() {
	if err := trustedPath(c.Store.Dir); err != nil {
		if c.distrust.Swap(&err) == nil {
			c.Log.Error("images.dir is no longer safe; the cache serves nothing until it is fixed", zap.Error(err), zap.String("fix", trustFix(c.Store.Dir)))
		}
		return
	}
	c.distrust.Store(nil)
}

func (c *Cache) untrusted() error {
	if e := c.distrust.Load(); e != nil {
		return fmt.Errorf("images.dir %s is not safe: %w", c.Store.Dir, *e)
	}
	return nil
}

// flight is one import in this process that later requests for the same
// image from the same source wait on, so N local requests take the
// directory lock once.
type flight struct {
	done     chan struct{}
	path     string
	err      error
	progress Progress
}

// key names an import: the verified digest and where it is read from. Two
// sources that serve the same digest import side by side rather than one
// waiting on the other: a user's slow registry never holds up another
// user's import of the same image from its real registry.
func (v *Verified) key() string {
	sum := sha256.Sum256([]byte(v.Image.Source()))
	return v.Digest.Encoded() + "." + hex.EncodeToString(sum[:8])
}

// Get returns the path of v's image, importing it first when needed. Only
// one process on one node imports an image from a source; the others wait
// for its lock and then find its file. p (nil: none) shows the work. An
// import this request starts counts against uid's images.user_imports
// (uid 0: the daemon or root, unbounded).
func (c *Cache) Get(ctx context.Context, v *Verified, p *Progress, uid uint32) (string, error) {
	if path, err := c.lookup(v); err == nil {
		c.Stats.hit()
		return path, nil
	} else if !errors.Is(err, errMissing) {
		return "", err
	}
	c.mu.Lock()
	if c.inflight == nil {
		c.inflight = map[string]*flight{}
	}
	f, joined := c.inflight[v.key()]
	if !joined {
		done, err := c.guard.startImport(uid, c.Limits.Imports)
		if err != nil {
			c.mu.Unlock()
			return "", err
		}
		f = &flight{done: make(chan struct{})}
		c.inflight[v.key()] = f
		go func() { defer done(); c.fly(f, v) }()
	}
	c.mu.Unlock()
	p.Follow(&f.progress)
	select {
	case <-f.done:
		return f.path, f.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// fly runs one import on its own deadline: a client that hangs up does not
// waste an import other clients (or the next job) will want.
func (c *Cache) fly(f *flight, v *Verified) {
	f.path, f.err = c.fill(v, &f.progress)
	c.mu.Lock()
	delete(c.inflight, v.key())
	c.mu.Unlock()
	close(f.done)
}

// lookup is Store.Lookup, logging and counting a file that failed its check.
func (c *Cache) lookup(v *Verified) (string, error) {
	path, err := c.Store.Lookup(v.Digest)
	if err != nil && errors.Is(err, errMissing) && err.Error() != errMissing.Error() {
		c.Log.Warn("cached image failed its check; importing it again", zap.Error(err))
		c.Stats.corrupt()
	}
	return path, err
}

// fill takes the import lock and imports unless someone else did while we
// waited.
func (c *Cache) fill(v *Verified, p *Progress) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.ImportTimeout)
	defer cancel()
	p.Set("waiting")
	unlock, err := c.waitLock(ctx, v.key(), p)
	if err != nil {
		return "", fmt.Errorf("waiting for the import lock of %s: %w", v.Digest, err)
	}
	defer unlock()
	if path, err := c.Store.Lookup(v.Digest); err == nil {
		c.Stats.hit() // another node or process imported it meanwhile
		return path, nil
	}
	// Under the lock no one imports this key, so its work directory is a
	// dead import's.
	if n := c.Store.cleanWork(func(_, what string) bool { return what == v.key() }); n > 0 {
		c.Log.Info("removed the work of an import that died", zap.String("digest", string(v.Digest)), zap.Int("dirs", n))
	}
	c.Stats.miss()
	r, err := c.reserve(ctx, v.key(), v.Compressed())
	if err != nil {
		return "", fmt.Errorf("%s: %w", v.Image.Pinned(v.Digest), err)
	}
	defer r.release()
	p.Set("importing")
	path, err := c.importImage(ctx, v, p, r)
	if err != nil {
		c.Stats.failed()
		return "", err
	}
	c.Stats.usage(c.Store.usage())
	return path, nil
}

func (c *Cache) importImage(ctx context.Context, v *Verified, p *Progress, r *reservation) (string, error) {
	cred, err := c.Enroot.identity()
	if err != nil {
		return "", err
	}
	work, err := workspace(filepath.Join(c.Store.Dir, ".work"), workName(c.Node, v.key()), cred)
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	f, err := startFront(ctx, c.Registry, v)
	if err != nil {
		return "", err
	}
	defer f.close()
	creds := atomicfile.Options{Mode: 0o600, UID: int(cred.Uid), GID: int(cred.Gid)}
	if _, err := atomicfile.Write(filepath.Join(work, "config", ".credentials"), []byte(f.netrc()), creds); err != nil {
		return "", err
	}
	start := time.Now()
	pinned := v.Image.Pinned(v.Digest)
	c.Log.Info("importing image into the cache", zap.String("image", pinned), zap.String("front", f.addr))
	out := filepath.Join(work, "image.sqsh")
	m := newMeter(out, f.sent.Load)
	beat := c.Store.progressFile(v.key())
	step := max(64<<20, v.Compressed()/4)
	tick := func(pgid int) error {
		moved, size := m.sample(pgid)
		if moved > 0 {
			p.Add(moved)
			beat.touch()
		}
		r.renew()
		if size > r.size {
			return r.grow(ctx, size+step)
		}
		return nil
	}
	if err := c.Enroot.Import(ctx, cred, work, f.ref(), out, tick); err != nil {
		return "", fmt.Errorf("importing %s: %w", pinned, err)
	}
	if !isSquashfs(out) {
		return "", fmt.Errorf("enroot import of %s wrote no squashfs", pinned)
	}
	if fi, err := os.Lstat(out); err != nil {
		return "", err
	} else if err := r.grow(ctx, fi.Size()); err != nil { // written since the last tick
		return "", fmt.Errorf("%s: %w", pinned, err)
	}
	rec, path, err := c.publish(v, out, int(cred.Uid), time.Since(start))
	if err != nil {
		return "", fmt.Errorf("publishing %s: %w", pinned, err)
	}
	c.Stats.imported(time.Since(start), rec.Size)
	c.Log.Info("image cached", zap.String("image", pinned), zap.Int64("bytes", rec.Size), zap.Duration("took", time.Since(start)))
	return path, nil
}

// publish puts the import's output in place under the digest's own lock,
// which eviction takes too. An import of the same digest from another
// source that finished first wins: its file is the same image.
func (c *Cache) publish(v *Verified, out string, uid int, took time.Duration) (record, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	unlock, err := c.Store.lock(ctx, v.Digest.Encoded())
	if err != nil {
		return record{}, "", err
	}
	defer unlock()
	if path, err := c.Store.Lookup(v.Digest); err == nil {
		rec, err := c.Store.readRecord(v.Digest)
		return rec, path, err
	}
	rec, err := c.Store.Publish(v, out, uid, c.Node, took)
	return rec, c.Store.Path(v.Digest), err
}

// waitLock takes the import lock of key. While another process or node
// holds it, the holder's heartbeat file (touched as its import moves) is
// this request's progress, so its importer can tell a slow import from a
// stuck one.
func (c *Cache) waitLock(ctx context.Context, key string, p *Progress) (func(), error) {
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		beat := c.Store.progressFile(key)
		last := beat.mtime()
		t := time.NewTicker(importer.HeartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if m := beat.mtime(); !m.Equal(last) {
					last = m
					p.Add(1)
				}
			}
		}
	}()
	return c.Store.lock(ctx, key)
}
