package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Cache serves images by digest, importing each one once per directory.
type Cache struct {
	Store         *Store
	Enroot        *Enroot
	Node          string
	MaxSize       int64 // 0: unbounded
	ImportTimeout time.Duration
	Log           *zap.Logger
	Stats         *Stats

	mu       sync.Mutex
	inflight map[Digest]*flight
}

// flight is one import in this process that later requests for the same
// digest wait on, so N local requests take the directory lock once.
type flight struct {
	done chan struct{}
	path string
	err  error
}

// Get returns the path of d's image, importing im@d first when needed. Only
// one process on one node imports a digest; the others wait for its lock and
// then find its file.
func (c *Cache) Get(ctx context.Context, im Image, d Digest) (string, error) {
	if path, err := c.Store.Lookup(d); err == nil {
		c.Stats.hit()
		return path, nil
	} else if !errors.Is(err, errMissing) {
		return "", err
	} else if err.Error() != errMissing.Error() {
		c.Log.Warn("cached image failed its check; importing it again", zap.Error(err))
		c.Stats.corrupt()
	}
	c.mu.Lock()
	if c.inflight == nil {
		c.inflight = map[Digest]*flight{}
	}
	f, joined := c.inflight[d]
	if !joined {
		f = &flight{done: make(chan struct{})}
		c.inflight[d] = f
	}
	c.mu.Unlock()
	if !joined {
		f.path, f.err = c.fill(im, d)
		c.mu.Lock()
		delete(c.inflight, d)
		c.mu.Unlock()
		close(f.done)
	}
	select {
	case <-f.done:
		return f.path, f.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// fill takes the digest's lock and imports unless someone else did while
// we waited. It runs on its own deadline: a client that hangs up does not
// waste an import other clients (or the next job) will want.
func (c *Cache) fill(im Image, d Digest) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.ImportTimeout)
	defer cancel()
	unlock, err := c.Store.lockDigest(ctx, d)
	if err != nil {
		return "", fmt.Errorf("waiting for the import lock of %s: %w", d, err)
	}
	defer unlock()
	if path, err := c.Store.Lookup(d); err == nil {
		c.Stats.hit() // another node or process imported it meanwhile
		return path, nil
	}
	// Under the lock no one imports d, so a work directory of d is a dead
	// import's.
	if n := c.Store.cleanWork(func(_, what string) bool { return what == d.Hex() }); n > 0 {
		c.Log.Info("removed the work of an import that died", zap.String("digest", string(d)), zap.Int("dirs", n))
	}
	c.Stats.miss()
	path, err := c.importImage(ctx, im, d)
	if err != nil {
		c.Stats.failed()
		return "", err
	}
	c.Evict()
	return path, nil
}

func (c *Cache) importImage(ctx context.Context, im Image, d Digest) (string, error) {
	cred, err := c.Enroot.identity()
	if err != nil {
		return "", err
	}
	work, err := workspace(filepath.Join(c.Store.Dir, ".work"), workName(c.Node, d), cred)
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	start := time.Now()
	pinned := im.Pinned(d)
	c.Log.Info("importing image into the cache", zap.String("image", pinned))
	out := filepath.Join(work, "image.sqsh")
	if err := c.Enroot.Import(ctx, cred, work, pinned, out); err != nil {
		return "", err
	}
	rec, err := c.Store.Publish(d, im.String(), out, int(cred.Uid), c.Node, time.Since(start))
	if err != nil {
		return "", fmt.Errorf("publishing %s: %w", pinned, err)
	}
	if !isSquashfs(c.Store.Path(d)) {
		c.Store.drop(d)
		return "", fmt.Errorf("enroot import of %s wrote no squashfs", pinned)
	}
	c.Stats.imported(time.Since(start), rec.Size)
	c.Log.Info("image cached", zap.String("image", pinned), zap.Int64("bytes", rec.Size), zap.Duration("took", time.Since(start)))
	return c.Store.Path(d), nil
}
