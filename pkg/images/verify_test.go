package images

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/pkg/imageref"
)

// A user who runs a registry that answers any manifest request with their
// own image under the digest of a victim's image (issue finding 1) gets an
// error: the daemon hashes what it fetched, so nothing is imported or
// filed under the victim's digest, and the victim's request imports the
// real image from the real registry.
func TestLyingManifestIsNeverCached(t *testing.T) {
	f := newFakeEnroot(t, 0)
	real, hostile := newTestRegistry(t), newTestRegistry(t)
	_, victim := real.push(t, "ml/hello:v1", "the real image")
	hostile.push(t, "x/evil:latest", "the attacker's image")
	evil := hostile.rawManifest(t, "x/evil", mustDigestOf(t, hostile, "x/evil:latest"))
	hostile.lie(lyingManifests("x/evil", evil, victim))
	c := testCache(t, filepath.Join(worldDir(t), "cache"), "n1")
	ctx := context.Background()

	_, err := c.Registry.Verify(ctx, hostile.image("x/evil"), victim)
	if err == nil || !strings.Contains(err.Error(), "lies about the digest") {
		t.Fatalf("the lying registry's manifest was accepted: %v", err)
	}
	if f.count(t) != 0 {
		t.Fatalf("an import ran for an unverified digest: %v", f.imports(t))
	}
	if _, err := os.Stat(c.Store.Path(victim)); err == nil {
		t.Fatal("a file was filed under the victim's digest")
	}

	v, err := c.Registry.Verify(ctx, real.image("ml/hello"), victim)
	if err != nil {
		t.Fatal(err)
	}
	path, err := c.Get(ctx, v, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); !strings.Contains(string(data), "the real image") {
		t.Fatalf("the victim got %q", data)
	}
}

// The registry answers the daemon's manifest request honestly (the
// attacker copied a public image's manifest) and then sends other bytes
// for its blobs: the front checks each blob and cuts the transfer, the
// import fails, and nothing is cached. enroot never sees the registry's
// manifest at all: it reads the verified bytes from the front.
func TestLyingBlobsCutTheImport(t *testing.T) {
	f := newFakeEnroot(t, 0)
	real, hostile := newTestRegistry(t), newTestRegistry(t)
	_, victim := real.push(t, "ml/hello:v1", "the real image")
	body := real.rawManifest(t, "ml/hello", victim)
	hostile.lie(func(next http.Handler) http.Handler { return lyingManifests("x/evil", body, victim)(lyingBlobs(next)) })
	c := testCache(t, filepath.Join(worldDir(t), "cache"), "n1")
	ctx := context.Background()

	v, err := c.Registry.Verify(ctx, hostile.image("x/evil"), victim)
	if err != nil {
		t.Fatalf("the honest manifest was refused: %v", err)
	}
	if path, err := c.Get(ctx, v, nil, 0); err == nil {
		data, _ := os.ReadFile(path)
		t.Fatalf("an image with lying blobs was cached: %q", data)
	}
	if f.count(t) != 1 || c.Stats.Snapshot().ImportFailures != 1 {
		t.Fatalf("imports %v, stats %+v", f.imports(t), c.Stats.Snapshot())
	}
	if _, err := os.Stat(c.Store.Path(victim)); err == nil {
		t.Fatal("a file was filed under the victim's digest")
	}
	if n := hostile.requests("/manifests/"); n != 1 {
		t.Fatalf("the hostile registry answered %d manifest requests, want 1: enroot must read the verified manifest from the front", n)
	}
	// The victim's own request is not held up or spoiled by the failure.
	v, err = c.Registry.Verify(ctx, real.image("ml/hello"), victim)
	if err != nil {
		t.Fatal(err)
	}
	path, err := c.Get(ctx, v, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); !strings.Contains(string(data), "the real image") || strings.Contains(string(data), "EEEE") {
		t.Fatalf("the victim got %q", data)
	}
}

// A digest that names an index is followed to this node's platform
// manifest, itself verified; the cache files the image under it.
func TestIndexIsFollowedToThePlatformManifest(t *testing.T) {
	newFakeEnroot(t, 0)
	reg := newTestRegistry(t)
	index, amd64 := reg.pushIndex(t, "ml/multi:v1", "amd64 content")
	c := testCache(t, filepath.Join(worldDir(t), "cache"), "n1")
	v, err := c.Registry.Verify(context.Background(), reg.image("ml/multi"), index)
	if err != nil {
		t.Fatal(err)
	}
	if v.Digest != amd64 || v.Requested != index {
		t.Fatalf("verified %s (asked %s), want the amd64 manifest %s", v.Digest, v.Requested, amd64)
	}
	path, err := c.Get(context.Background(), v, nil, 0)
	if err != nil || path != c.Store.Path(amd64) {
		t.Fatalf("%q, %v", path, err)
	}
	if data, _ := os.ReadFile(path); !strings.Contains(string(data), "amd64 content") || strings.Contains(string(data), "arm64") {
		t.Fatalf("imported %q", data)
	}
}

func mustDigestOf(t *testing.T, r *testRegistry, repoTag string) imageref.Digest {
	t.Helper()
	repo, tag, _ := strings.Cut(repoTag, ":")
	d, err := (&Registry{}).Resolve(context.Background(), r.image(repo), tag)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A registry that serves the real manifest of a victim's image and then
// trickles its blobs (issue finding 10) holds up only the requests that
// name it: the victim's request for the same digest from the real registry
// is a separate import and completes.
func TestStalledSourceHoldsUpNobodyElse(t *testing.T) {
	newFakeEnroot(t, 0)
	real, hostile := newTestRegistry(t), newTestRegistry(t)
	_, victim := real.push(t, "ml/hello:v1", "the real image")
	body := real.rawManifest(t, "ml/hello", victim)
	stall := make(chan struct{})
	hostile.lie(func(next http.Handler) http.Handler {
		return lyingManifests("x/evil", body, victim)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/blobs/") {
				w.WriteHeader(http.StatusOK)
				<-stall
				return
			}
			next.ServeHTTP(w, r)
		}))
	})
	t.Cleanup(func() { close(stall) }) // before the registry closes
	c := testCache(t, filepath.Join(worldDir(t), "cache"), "n1")
	ctx := context.Background()
	v, err := c.Registry.Verify(ctx, hostile.image("x/evil"), victim)
	if err != nil {
		t.Fatal(err)
	}
	attacker := &Progress{}
	attackCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _, _ = c.Get(attackCtx, v, attacker, 1000) }()
	waitFor(t, "the attacker's import to start", func() error {
		if state, _ := attacker.Snapshot(); state != "importing" {
			return os.ErrNotExist
		}
		return nil
	})
	v, err = c.Registry.Verify(ctx, real.image("ml/hello"), victim)
	if err != nil {
		t.Fatal(err)
	}
	path, err := c.Get(ctx, v, nil, 1001)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); !strings.Contains(string(data), "the real image") {
		t.Fatalf("the victim got %q", data)
	}
}

// A hit on an index fetches the index every time (the user's image, with
// the agent's credentials of now) and this node's platform manifest the
// first time only, from that source: another source whose index names the
// same platform manifest must serve it itself, and an index the registry
// no longer serves fails the hit.
func TestIndexHitsFetchTheIndexAndKeepThePlatformManifest(t *testing.T) {
	real, other := newTestRegistry(t), newTestRegistry(t)
	index, amd64 := real.pushIndex(t, "ml/multi:v1", "amd64 content")
	if i, a := other.pushIndex(t, "ml/multi:v1", "amd64 content"); i != index || a != amd64 {
		t.Fatalf("the same index pushed twice: %s %s, %s %s", i, a, index, amd64)
	}
	r := &Registry{}
	for range 3 {
		if v, err := r.Verify(context.Background(), real.image("ml/multi"), index); err != nil || v.Digest != amd64 {
			t.Fatalf("%v, %v", v, err)
		}
	}
	if got, want := real.requests("GET /v2/ml/multi/manifests/"+string(index)), 3; got != want {
		t.Fatalf("%d GETs of the index for 3 hits, want %d", got, want)
	}
	if got := real.requests("GET /v2/ml/multi/manifests/" + string(amd64)); got != 1 {
		t.Fatalf("%d GETs of the platform manifest for 3 hits, want 1", got)
	}
	refuse := func(path string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				if req.URL.Path == path {
					http.Error(w, `{"errors":[{"code":"MANIFEST_UNKNOWN"}]}`, http.StatusNotFound)
					return
				}
				next.ServeHTTP(w, req)
			})
		}
	}
	other.lie(refuse("/v2/ml/multi/manifests/" + string(amd64)))
	if _, err := r.Verify(context.Background(), other.image("ml/multi"), index); err == nil {
		t.Fatal("a source that does not serve the platform manifest was answered from another's")
	}
	real.lie(refuse("/v2/ml/multi/manifests/" + string(index)))
	if _, err := r.Verify(context.Background(), real.image("ml/multi"), index); err == nil {
		t.Fatal("an index the registry no longer serves was verified")
	}
}

// What platforms keeps is bounded in count and bytes, and a large
// manifest is not kept at all.
func TestKeptPlatformManifestsAreBounded(t *testing.T) {
	var p platforms
	for i := range 3 * maxPlatforms {
		p.put("src", imageref.Digest(fmt.Sprintf("sha256:%064x", i)), platformManifest{body: make([]byte, 8<<10)})
		if len(p.m) > maxPlatforms || p.bytes > maxPlatformBytes {
			t.Fatalf("after %d: %d kept, %d bytes", i+1, len(p.m), p.bytes)
		}
	}
	big := imageref.Digest("sha256:" + strings.Repeat("b", 64))
	p.put("src", big, platformManifest{body: make([]byte, maxPlatformToKeep+1)})
	if _, ok := p.get("src", big); ok {
		t.Fatal("a manifest over 64 KiB was kept")
	}
}
