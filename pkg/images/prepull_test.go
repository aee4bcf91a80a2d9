package images

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"go.uber.org/zap"
)

// The daemon, at start, removes the work its node's dead imports left (and
// only its node's), imports every images.prepull image before any job asks,
// holds it, and follows the tag to its new digest on the schedule.
func TestStartCleansWorkAndPrepullFollowsTheTag(t *testing.T) {
	a, b := testDigest(20), testDigest(21)
	f := newFakeEnroot(t, a, 0)
	root := config.Root(worldDir(t))
	cfg := config.Default()
	cfg.Images.Cache = true
	cfg.Images.Prepull = []string{testImage.String() + ":v1"}
	cfg.Images.PrepullInterval = config.Duration(300 * time.Millisecond)
	store := &Store{Dir: root.Path(cfg.Images.Dir)}
	if err := store.Prepare(); err != nil {
		t.Fatal(err)
	}
	dead := map[string]bool{ // name -> removed at start
		"n1-" + testDigest(22).Hex() + "-0123456789ab":   true,
		"n1-digest-0123456789ab":                         true,
		"n1-x-" + testDigest(22).Hex() + "-0123456789ab": false, // node n1-x
		"n2-" + testDigest(22).Hex() + "-0123456789ab":   false,
	}
	for name := range dead {
		partial := filepath.Join(store.Dir, ".work", name, "data", "rootfs")
		if err := os.MkdirAll(partial, 0o700); err != nil {
			t.Fatal(err)
		}
		_ = os.Chmod(partial, 0) // enroot leaves such modes in a partial rootfs
	}
	svc, err := Start(cfg, root, "n1", &Stats{}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	for name, removed := range dead {
		if _, err := os.Lstat(filepath.Join(store.Dir, ".work", name)); (err != nil) != removed {
			t.Errorf("work dir %s: removed=%v, want %v", name, err != nil, removed)
		}
	}
	hold := func(d Digest) string {
		return filepath.Join(store.Dir, ".holds", d.Hex(), "n1."+strconv.Itoa(os.Geteuid())+".prepull.0")
	}
	cached := func(d Digest) func() error {
		return func() error {
			if _, err := svc.Cache.Store.Lookup(d); err != nil {
				return err
			}
			_, err := os.Stat(hold(d))
			return err
		}
	}
	waitFor(t, "the prepulled, held image", cached(a))
	f.setDigest(t, b) // the tag moves
	waitFor(t, "the image at the new digest", cached(b))
	if !strings.Contains(strings.Join(f.imports(t), " "), testImage.Pinned(b)) {
		t.Fatalf("the second import is not the new digest: %v", f.imports(t))
	}
	time.Sleep(time.Second) // a few more rounds at the same digest
	if n := f.count(t); n != 2 {
		t.Fatalf("%d imports, want 2: an unchanged digest is a hit", n)
	}
	if _, err := os.Stat(hold(a)); err == nil {
		t.Fatal("the old digest is still held by prepull")
	}
	if _, err := os.Stat(hold(b)); err != nil {
		t.Fatalf("the new digest is not held: %v", err)
	}
}

func waitFor(t *testing.T, what string, ok func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	err := ok()
	for ; err != nil && time.Now().Before(deadline); err = ok() {
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
