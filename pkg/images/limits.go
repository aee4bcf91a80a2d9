package images

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/imageref"
)

// Limits bound what one user's requests can take from the cache, so no
// user can fill it, wedge it with imports, or keep others' images out by
// holding everything. Root (and the daemon's own prepull) is not bounded.
type Limits struct {
	// Imports is how many imports one uid's requests may start at once on
	// this node.
	Imports int
	// Images is how many distinct images one uid may hold at once (holds
	// of every node sharing the directory count).
	Images int
	// Bytes bounds the size of the images one uid holds at once (an image
	// not imported yet counts its reservation, or its compressed size);
	// 0: unbounded.
	Bytes int64
}

// failedFor is how long a request that failed (a digest the registry does
// not have or lies about, an import that failed) is answered from memory
// with the same error, so one user cannot turn a loop of bogus requests
// into a loop of registry calls and imports.
const failedFor = 5 * time.Minute

// errLimit marks a refusal by a per-user bound (the importer falls back).
var errLimit = errors.New("per-user limit")

// guard is the daemon's memory of limits and failures.
type guard struct {
	mu      sync.Mutex
	running map[uint32]int       // imports started by each uid's requests
	failed  map[string]failure   // Source@digest -> the error, until
	holding map[uint32]chan bool // one admission at a time per uid
}

type failure struct {
	err   error
	until time.Time
}

// recent is the error a request for key met less than failedFor ago.
func (g *guard) recent(key string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	f, ok := g.failed[key]
	if !ok {
		return nil
	}
	if time.Now().After(f.until) {
		delete(g.failed, key)
		return nil
	}
	return fmt.Errorf("%w (failed %s ago; not tried again for %s)", f.err, time.Since(f.until.Add(-failedFor)).Round(time.Second), failedFor)
}

// fail remembers that key failed with err.
func (g *guard) fail(key string, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failed == nil {
		g.failed = map[string]failure{}
	}
	if len(g.failed) > 10000 { // bounded: expired ones go first, then all
		now := time.Now()
		for k, f := range g.failed {
			if now.After(f.until) {
				delete(g.failed, k)
			}
		}
		if len(g.failed) > 10000 {
			g.failed = map[string]failure{}
		}
	}
	g.failed[key] = failure{err: err, until: time.Now().Add(failedFor)}
}

// startImport counts an import uid's request starts; done uncounts it.
func (g *guard) startImport(uid uint32, max int) (done func(), err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if uid != 0 && max > 0 && g.running[uid] >= max {
		return nil, fmt.Errorf("%w: uid %d has %d imports running (images.user_imports)", errLimit, uid, g.running[uid])
	}
	if g.running == nil {
		g.running = map[uint32]int{}
	}
	g.running[uid]++
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.running[uid]--; g.running[uid] <= 0 {
			delete(g.running, uid)
		}
	}, nil
}

// failureKey names a request for the negative cache: the source and the
// digest asked for, so a user's failing registry never marks the digest
// failed for another source.
func failureKey(im imageref.Image, d imageref.Digest) string { return im.Source() + "@" + string(d) }

// admitHold checks uid's holds against the bounds before it holds v, and
// holds it, as one step per uid.
func (c *Cache) admitHold(v *Verified, h Holder) error {
	if h.UID == 0 {
		return c.Store.Hold(v.Digest, c.Node, h)
	}
	c.guard.mu.Lock()
	if c.guard.holding == nil {
		c.guard.holding = map[uint32]chan bool{}
	}
	turn, ok := c.guard.holding[h.UID]
	if !ok {
		turn = make(chan bool, 1)
		c.guard.holding[h.UID] = turn
	}
	c.guard.mu.Unlock()
	turn <- true
	defer func() { <-turn }()
	// A user who holds the image already (another step of the job, another
	// node) takes nothing more: the bounds need every hold read only when
	// the image is new to them.
	bounded := c.Limits.Images > 0 || c.Limits.Bytes > 0
	if bounded && !c.Store.heldByIn(v.Digest, h.UID) {
		held := c.Store.heldBy(h.UID)
		if c.Limits.Images > 0 && len(held) >= c.Limits.Images {
			return fmt.Errorf("%w: uid %d holds %d images (images.user_images)", errLimit, h.UID, len(held))
		}
		var total int64
		for d := range held {
			total += c.sizeOf(d, 0)
		}
		if add := c.sizeOf(v.Digest, v.Compressed()); c.Limits.Bytes > 0 && total+add > c.Limits.Bytes {
			return fmt.Errorf("%w: uid %d holds %d MiB, and this image needs %d MiB more (images.user_max_size is %d MiB)",
				errLimit, h.UID, total>>20, add>>20, c.Limits.Bytes>>20)
		}
	}
	return c.Store.Hold(v.Digest, c.Node, h)
}
