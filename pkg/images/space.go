package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/imageref"
	"go.uber.org/zap"
)

// The cache never holds more than MaxSize bytes: an import reserves its
// space before it starts (the image's compressed size, the least its
// squashfs will take), grows the reservation as enroot writes more, and is
// stopped when the space it needs cannot be had without evicting an image a
// running step holds. Reservations live in the directory, so the nodes
// sharing it count each other's:
//
//	.reserve/<node>.<key>   content: "<bytes>"; its mtime renewed while the
//	                        import runs, and ignored after reserveStale (the
//	                        node died)
//
// Every decision on space is taken under .locks/space.lock, across nodes.
const (
	reserveStale = 2 * time.Minute
	reserveRenew = 20 * time.Second
)

// errNoRoom says an image does not fit without evicting held images.
var errNoRoom = errors.New("no room in the cache")

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
		if err1 != nil || err2 != nil || !fi.Mode().IsRegular() {
			continue
		}
		out = append(out, entry{d: d, size: fi.Size(), used: rfi.ModTime()})
	}
	return out
}

// reserved sums the fresh reservations, but the one named skip, by digest.
func (s *Store) reserved(skip string) (map[string]int64, int64) {
	files, _ := os.ReadDir(filepath.Join(s.Dir, ".reserve"))
	by := map[string]int64{}
	var total int64
	for _, f := range files {
		fi, err := f.Info()
		if err != nil || !fi.Mode().IsRegular() || f.Name() == skip || time.Since(fi.ModTime()) > reserveStale {
			continue
		}
		data, err := atomicfile.ReadFile(filepath.Join(s.Dir, ".reserve", f.Name()))
		n, perr := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err != nil || perr != nil || n < 0 {
			continue
		}
		parts := strings.Split(f.Name(), ".") // <node>.<hex>.<source>; the node may hold dots
		if len(parts) < 3 {
			continue
		}
		by[parts[len(parts)-2]] += n
		total += n
	}
	return by, total
}

// sizeOf is the bytes d takes or will take: its file, else its
// reservation, else guess.
func (c *Cache) sizeOf(d imageref.Digest, guess int64) int64 {
	if fi, err := os.Lstat(c.Store.Path(d)); err == nil && fi.Mode().IsRegular() {
		return fi.Size()
	}
	by, _ := c.Store.reserved("")
	if n := by[d.Encoded()]; n > 0 {
		return n
	}
	return guess
}

// reservation is the space one import may fill.
type reservation struct {
	c       *Cache
	name    string
	size    int64
	renewed time.Time
}

// reserve makes room for n bytes of the import of key, evicting least
// recently used images nobody holds, or fails with errNoRoom.
func (c *Cache) reserve(ctx context.Context, key string, n int64) (*reservation, error) {
	r := &reservation{c: c, name: c.Node + "." + key}
	return r, r.grow(ctx, n)
}

// grow makes the reservation n bytes.
func (r *reservation) grow(ctx context.Context, n int64) error {
	if r.c.MaxSize <= 0 || n <= r.size {
		return nil
	}
	unlock, err := r.c.Store.lock(ctx, "space")
	if err != nil {
		return err
	}
	defer unlock()
	if err := r.c.makeRoom(n, r.name); err != nil {
		return err
	}
	if _, err := atomicfile.Write(r.path(), []byte(strconv.FormatInt(n, 10)+"\n"), recOpts); err != nil {
		return err
	}
	r.size, r.renewed = n, time.Now()
	return nil
}

// renew keeps the reservation fresh while its import runs.
func (r *reservation) renew() {
	if r.size > 0 && time.Since(r.renewed) > reserveRenew {
		touch(r.path())
		r.renewed = time.Now()
	}
}

func (r *reservation) release() { _ = os.Remove(r.path()) }

func (r *reservation) path() string { return filepath.Join(r.c.Store.Dir, ".reserve", r.name) }

// makeRoom evicts until need more bytes fit beside the cached files and the
// other reservations. Called under the space lock.
func (c *Cache) makeRoom(need int64, skip string) error {
	entries := c.Store.usage()
	_, total := c.Store.reserved(skip)
	for _, e := range entries {
		total += e.size
	}
	if total+need <= c.MaxSize {
		return nil
	}
	total = c.evictTo(entries, total, c.MaxSize-need)
	if total+need > c.MaxSize {
		return fmt.Errorf("%w: %d MiB needed, %d MiB of images.max_size %d MiB are held by running steps or reserved by imports",
			errNoRoom, need>>20, total>>20, c.MaxSize>>20)
	}
	return nil
}

// Evict removes least recently used images that nobody holds until the
// cache and its reservations fit MaxSize (the periodic upkeep; imports
// make their own room first).
func (c *Cache) Evict() {
	entries := c.Store.usage()
	var total int64
	for _, e := range entries {
		total += e.size
	}
	defer func() { c.Stats.usage(c.Store.usage()) }()
	if c.MaxSize <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unlock, err := c.Store.lock(ctx, "space")
	if err != nil {
		return
	}
	defer unlock()
	_, reserved := c.Store.reserved("")
	if left := c.evictTo(entries, total+reserved, c.MaxSize); left > c.MaxSize {
		c.Log.Warn("the image cache is over images.max_size and every image left is held by a running step",
			zap.Int64("bytes", left), zap.Int64("max", c.MaxSize))
	}
}

// evictTo evicts least recently used entries until total is at most
// target, and returns the total left.
func (c *Cache) evictTo(entries []entry, total, target int64) int64 {
	sort.Slice(entries, func(i, j int) bool { return entries[i].used.Before(entries[j].used) })
	for _, e := range entries {
		if total <= target {
			break
		}
		if c.evictOne(e) {
			total -= e.size
			c.Stats.evicted()
		}
	}
	return total
}

func (c *Cache) evictOne(e entry) bool {
	if c.Store.held(e.d) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	unlock, err := c.Store.lock(ctx, e.d.Encoded())
	if err != nil {
		return false // being published or evicted elsewhere
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
