package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/enroot-agent/enroot-agent/pkg/imageref"
	"github.com/enroot-agent/enroot-agent/pkg/importer"
)

func testServer(t *testing.T, c *Cache) *Server {
	return &Server{Cache: c, Log: c.Log}
}

// step is a holder whose life is this test process's.
func step(uid uint32, job string) Holder { return selfHolder(uid, job) }

func selfHolder(uid uint32, job string) Holder {
	return Holder{UID: uid, Job: job, Step: "0", Proc: stepd{pid: os.Getpid(), start: startOf(os.Getpid())}}
}

// One user asks for 30 new images at once (issue finding 5): at most
// images.user_imports imports run for them, the other requests are refused
// at once with the bound named (their jobs import on their own).
func TestOneUsersThirtyImportsAreCapped(t *testing.T) {
	f := newFakeEnroot(t, 0)
	gate := filepath.Join(worldDir(t), "open")
	f.configure(t, fakeConf{Gate: gate})
	reg := newTestRegistry(t)
	c := testCache(t, filepath.Join(worldDir(t), "cache"), "n1")
	c.Limits = Limits{Imports: 2, Images: 8}
	s := testServer(t, c)
	var uris []importer.Request
	for i := range 30 {
		_, d := reg.push(t, fmt.Sprintf("ml/many%d:v1", i), fmt.Sprintf("image %d", i))
		uris = append(uris, importer.Request{URI: "docker://" + reg.Host + fmt.Sprintf("#ml/many%d:v1", i), Digest: string(d)})
	}
	errs := make(chan error, 30)
	var wg sync.WaitGroup
	for i, req := range uris {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.get(context.Background(), req, step(1000, fmt.Sprint(100+i)), &Progress{}, nil)
			errs <- err
		}()
	}
	refused := 0
	for refused < 28 {
		err := <-errs
		if err == nil || !errors.Is(err, errLimit) {
			t.Fatalf("a request got %v before the imports ran; want a refusal", err)
		}
		if !strings.Contains(err.Error(), "images.user_imports") && !strings.Contains(err.Error(), "images.user_images") {
			t.Fatalf("the refusal does not name the bound: %v", err)
		}
		refused++
	}
	waitFor(t, "two imports", func() error {
		if f.count(t) < 2 {
			return os.ErrNotExist
		}
		return nil
	})
	if n := f.count(t); n != 2 {
		t.Fatalf("%d imports run for one user, want 2: %v", n, f.imports(t))
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("an admitted import failed: %v", err)
		}
	}
	if n := c.Stats.Snapshot().Refused["user_limit"]; n != 28 {
		t.Fatalf("refused counter %d, want 28", n)
	}
	// Another user is not held up by the first one's bound.
	_, d := reg.push(t, "ml/other:v1", "another user's image")
	if _, err := s.get(context.Background(), importer.Request{URI: "docker://" + reg.Host + "#ml/other:v1", Digest: string(d)}, step(1001, "7"), &Progress{}, nil); err != nil {
		t.Fatal(err)
	}
}

// images.max_size is never exceeded (issue finding 5): an import reserves
// its space first, evicting only images nobody holds; one that cannot fit
// without evicting a held image is refused, and one whose squashfs grows
// past what fits is stopped. Another user's held image stays.
func TestMaxSizeHeldWithoutEvictingHeldImages(t *testing.T) {
	f := newFakeEnroot(t, 0)
	reg := newTestRegistry(t)
	c := testCache(t, filepath.Join(worldDir(t), "cache"), "n1")
	c.MaxSize = 1000 << 10
	s := testServer(t, c)
	get := func(name string, uid uint32, size int) (imageref.Digest, error) {
		_, d := reg.push(t, "ml/"+name+":v1", strings.Repeat(name[:1], size))
		_, err := s.get(context.Background(), importer.Request{URI: "docker://" + reg.Host + "#ml/" + name + ":v1", Digest: string(d)}, step(uid, name), &Progress{}, nil)
		return d, err
	}
	a, err := get("alpha", 1001, 400<<10) // another user's running step holds it
	if err != nil {
		t.Fatal(err)
	}
	b, err := get("bravo", 1000, 400<<10)
	if err != nil {
		t.Fatal(err)
	}
	c.Store.dropHold(b, c.Node, step(1000, "bravo")) // its step ended
	if _, err := get("charlie", 1000, 400<<10); err != nil {
		t.Fatalf("room could be made by evicting the unheld image: %v", err)
	}
	if _, err := os.Stat(c.Store.Path(b)); err == nil {
		t.Fatal("the unheld image was not evicted")
	}
	if _, err := get("delta", 1000, 400<<10); !errors.Is(err, errNoRoom) {
		t.Fatalf("an image that fits only by evicting held images: %v", err)
	}
	f.configure(t, fakeConf{Pad: 600 << 10}) // unpacks bigger than it downloads
	c.Store.dropHold(a, c.Node, step(1001, "alpha"))
	if _, err := get("echo", 1000, 100<<10); !errors.Is(err, errNoRoom) {
		t.Fatalf("an import that outgrew its room: %v", err)
	}
	var total int64
	for _, e := range c.Store.usage() {
		total += e.size
	}
	if total > c.MaxSize {
		t.Fatalf("the cache holds %d KiB, over images.max_size %d KiB", total>>10, c.MaxSize>>10)
	}
	if left, _ := os.ReadDir(filepath.Join(c.Store.Dir, ".reserve")); len(left) != 0 {
		t.Fatalf("reservations left: %v", left)
	}
}

// A user's held bytes are bounded too.
func TestUserBytesAreBounded(t *testing.T) {
	newFakeEnroot(t, 0)
	reg := newTestRegistry(t)
	c := testCache(t, filepath.Join(worldDir(t), "cache"), "n1")
	c.Limits = Limits{Images: 8, Bytes: 700 << 10}
	s := testServer(t, c)
	for i, want := range []bool{true, false} {
		_, d := reg.push(t, fmt.Sprintf("ml/big%d:v1", i), strings.Repeat(fmt.Sprint(i), 400<<10))
		_, err := s.get(context.Background(), importer.Request{URI: "docker://" + reg.Host + fmt.Sprintf("#ml/big%d:v1", i), Digest: string(d)}, step(1000, fmt.Sprint(i)), &Progress{}, nil)
		if (err == nil) != want || err != nil && !strings.Contains(err.Error(), "images.user_max_size") {
			t.Fatalf("image %d: %v, want ok=%v", i, err, want)
		}
	}
}

// 50 requests for a digest the registry does not have, and 50 for one it
// lies about (issue finding 5), start no import, and reach the registry
// once each: the failure is remembered for failedFor.
func TestFailedDigestsAreRemembered(t *testing.T) {
	f := newFakeEnroot(t, 0)
	reg, hostile := newTestRegistry(t), newTestRegistry(t)
	_, real := reg.push(t, "ml/hello:v1", "the real image")
	hostile.push(t, "x/evil:latest", "evil")
	hostile.lie(lyingManifests("x/evil", []byte(`{"evil":true}`), real))
	c := testCache(t, filepath.Join(worldDir(t), "cache"), "n1")
	s := testServer(t, c)
	bogus := imageref.Digest("sha256:" + strings.Repeat("0", 64))
	for range 50 {
		for _, req := range []importer.Request{
			{URI: "docker://" + reg.Host + "#ml/hello:v1", Digest: string(bogus)},
			{URI: "docker://" + hostile.Host + "#x/evil:latest", Digest: string(real)},
		} {
			if _, err := s.get(context.Background(), req, step(1000, "1"), &Progress{}, nil); err == nil {
				t.Fatalf("%+v was served", req)
			}
		}
	}
	if n := reg.requests("GET /v2/ml/hello/manifests/" + string(bogus)); n != 1 {
		t.Fatalf("the registry was asked %d times for the bogus digest, want 1", n)
	}
	if n := hostile.requests("GET /v2/x/evil/manifests/sha256:"); n != 1 {
		t.Fatalf("the lying registry was asked %d times, want 1", n)
	}
	if f.count(t) != 0 {
		t.Fatalf("imports ran: %v", f.imports(t))
	}
	// The real registry's image is not marked failed by the liar.
	if _, err := s.get(context.Background(), importer.Request{URI: "docker://" + reg.Host + "#ml/hello:v1", Digest: string(real)}, step(1000, "2"), &Progress{}, nil); err != nil {
		t.Fatal(err)
	}
}
