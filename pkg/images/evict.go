package images

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/enroot-agent/enroot-agent/pkg/imageref"
)

// entry is one cached image, as eviction sees it.
type entry struct {
	d    imageref.Digest
	size int64
	used time.Time // the record's mtime: last Lookup
}

// usage lists the cached images with their size and last use.
func (s *Store) usage() []entry {
	recs, _ := filepath.Glob(filepath.Join(s.Dir, "sha256", "*.json"))
	var out []entry
	for _, r := range recs {
		d, err := imageref.ParseDigest("sha256:" + strings.TrimSuffix(filepath.Base(r), ".json"))
		if err != nil {
			continue
		}
		rfi, err1 := os.Lstat(r)
		fi, err2 := os.Lstat(s.Path(d))
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, entry{d: d, size: fi.Size(), used: rfi.ModTime()})
	}
	return out
}

// Evict removes least recently used images that nobody holds until the
// cache fits MaxSize. Each removal takes the digest's lock, so it never
// races an import or another node's eviction of the same image, and checks
// the holds again under it.
func (c *Cache) Evict() {
	entries := c.Store.usage()
	var total int64
	for _, e := range entries {
		total += e.size
	}
	defer func() { c.Stats.usage(total, len(entries)) }()
	if c.MaxSize <= 0 || total <= c.MaxSize {
		return
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].used.Before(entries[j].used) })
	kept := len(entries)
	for _, e := range entries {
		if total <= c.MaxSize {
			break
		}
		if c.evictOne(e) {
			total -= e.size
			kept--
			c.Stats.evicted()
		}
	}
	entries = entries[:kept] // only the count matters for the metric
	if total > c.MaxSize {
		c.Log.Warn("the image cache is over images.max_size and every image left is held by a running step",
			zap.Int64("bytes", total), zap.Int64("max", c.MaxSize))
	}
}

func (c *Cache) evictOne(e entry) bool {
	if c.Store.held(e.d) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	unlock, err := c.Store.lock(ctx, e.d.Encoded())
	if err != nil {
		return false // being imported or evicted elsewhere
	}
	defer unlock()
	if c.Store.held(e.d) {
		return false
	}
	c.Store.drop(e.d)
	_ = os.Remove(filepath.Join(c.Store.Dir, ".holds", e.d.Encoded()))
	c.Log.Info("evicted an image from the cache", zap.String("digest", string(e.d)), zap.Int64("bytes", e.size))
	return true
}
