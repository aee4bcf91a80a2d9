package images

import (
	"os"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"go.uber.org/zap"
)

// worldDir is a temp dir the import user can reach (t.TempDir is 0700),
// on a path only root can change (the cache refuses any other: /tmp is
// 1777).
func worldDir(t testing.TB) string { return testenv.RootOnlyDir(t) }

func testCache(t testing.TB, dir, node string) *Cache {
	t.Helper()
	c, err := newTestCache(dir, node)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newTestCache is a node's cache in dir, importing as nobody.
func newTestCache(dir, node string) (*Cache, error) {
	c := &Cache{Store: &Store{Dir: dir, GID: -1}, Enroot: &Enroot{User: "nobody", Path: os.Getenv("PATH"), Group: -1},
		Registry: &Registry{}, Node: node, ImportTimeout: time.Minute, Log: zap.NewNop(), Stats: &Stats{}}
	return c, c.Store.Prepare()
}
