package images

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/imageref"
	"go.uber.org/zap"
)

// The daemon, at start, removes the work its node's dead imports left (and
// only its node's), imports every images.prepull image before any job asks,
// holds it, and follows the tag to its new digest on the schedule.
func TestStartCleansWorkAndPrepullFollowsTheTag(t *testing.T) {
	f := newFakeEnroot(t, 0)
	reg := newTestRegistry(t)
	_, a := reg.push(t, "ml/hello:v1", "first")
	root := config.Root(worldDir(t))
	cfg := config.Default()
	cfg.Images.Cache = true
	cfg.Images.Prepull = []string{reg.Host + "#ml/hello:v1"}
	cfg.Images.PrepullInterval = config.Duration(300 * time.Millisecond)
	store := &Store{Dir: root.Path(cfg.Images.Dir), GID: -1}
	if err := store.Prepare(); err != nil {
		t.Fatal(err)
	}
	key := strings.Repeat("ab", 32) + ".0123456789abcdef"
	dead := map[string]bool{ // name -> removed at start
		"n1-" + key + "-0123456789ab":   true,
		"n1-x-" + key + "-0123456789ab": false, // node n1-x
		"n2-" + key + "-0123456789ab":   false,
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
	hold := func(d imageref.Digest) string {
		return filepath.Join(store.Dir, ".holds", d.Encoded(), "n1."+strconv.Itoa(os.Geteuid())+".prepull.0")
	}
	cached := func(d imageref.Digest) func() error {
		return func() error {
			if _, err := svc.Cache.Store.Lookup(d); err != nil {
				return err
			}
			_, err := os.Stat(hold(d))
			return err
		}
	}
	waitFor(t, "the prepulled, held image", cached(a))
	_, b := reg.push(t, "ml/hello:v1", "second") // the tag moves
	waitFor(t, "the image at the new digest", cached(b))
	if got := f.imports(t); len(got) != 2 || !strings.HasSuffix(got[1], "@"+string(b)) {
		t.Fatalf("the second import is not the new digest: %v", got)
	}
	// Three more rounds resolve the tag to the same digest: hits, no import.
	resolved := reg.requests("/manifests/v1")
	waitFor(t, "three more prepull rounds", func() error {
		if reg.requests("/manifests/v1") < resolved+3 {
			return os.ErrNotExist
		}
		return nil
	})
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
