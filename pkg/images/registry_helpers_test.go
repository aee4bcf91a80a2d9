package images

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/enroot-agent/enroot-agent/pkg/imageref"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// testRegistry is an OCI registry (go-containerregistry's, in memory) on
// 127.0.0.1 over plain HTTP, in front of which a test may put a handler
// that lies. It counts the requests it answers.
type testRegistry struct {
	srv  *httptest.Server
	Host string

	mu   sync.Mutex
	wrap func(http.Handler) http.Handler
	reqs []string
}

func newTestRegistry(t *testing.T) *testRegistry {
	t.Helper()
	r := &testRegistry{}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.reqs = append(r.reqs, req.Method+" "+req.URL.Path)
		wrap := r.wrap
		r.mu.Unlock()
		h := http.Handler(inner)
		if wrap != nil {
			h = wrap(h)
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	r.Host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

// lie puts a hostile handler in front of the registry.
func (r *testRegistry) lie(wrap func(http.Handler) http.Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wrap = wrap
}

func (r *testRegistry) requests(match string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, q := range r.reqs {
		if strings.Contains(q, match) {
			n++
		}
	}
	return n
}

// exact counts the requests that are exactly match ("GET /v2/": pings).
func (r *testRegistry) exact(match string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, q := range r.reqs {
		if q == match {
			n++
		}
	}
	return n
}

// image is a linux image of one layer holding content.
func testImageOf(t *testing.T, arch string, content string) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, static.NewLayer([]byte(content), types.DockerLayer))
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = arch, "linux"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// push pushes an image with one layer of content as repo:tag and returns
// its image (manifest) and its manifest digest.
func (r *testRegistry) push(t *testing.T, repoTag, content string) (v1.Image, imageref.Digest) {
	t.Helper()
	img := testImageOf(t, "amd64", content)
	ref, err := name.NewTag(r.Host+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return img, imageref.Digest(d.String())
}

// pushIndex pushes an index of an arm64 and an amd64 image and returns the
// index digest and the amd64 manifest digest.
func (r *testRegistry) pushIndex(t *testing.T, repoTag, content string) (imageref.Digest, imageref.Digest) {
	t.Helper()
	arm, amd := testImageOf(t, "arm64", content+" arm64"), testImageOf(t, "amd64", content)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	ref, err := name.NewTag(r.Host+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	id, _ := idx.Digest()
	md, _ := amd.Digest()
	return imageref.Digest(id.String()), imageref.Digest(md.String())
}

func (r *testRegistry) image(repo string) imageref.Image {
	return imageref.Image{Registry: r.Host, Sep: "#", Repo: repo}
}

// rawManifest is what the registry holds for repo@d.
func (r *testRegistry) rawManifest(t *testing.T, repo string, d imageref.Digest) []byte {
	t.Helper()
	ref, _ := name.NewDigest(r.Host+"/"+repo+"@"+string(d), name.Insecure)
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	return desc.Manifest
}

// lyingManifests answers every manifest request of repo with body, under
// the header digest the attacker wants the cache to file it as.
func lyingManifests(repo string, body []byte, claim imageref.Digest) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if !strings.HasPrefix(req.URL.Path, "/v2/"+repo+"/manifests/") {
				next.ServeHTTP(w, req)
				return
			}
			w.Header().Set("Content-Type", string(types.DockerManifestSchema2))
			w.Header().Set("Docker-Content-Digest", string(claim))
			if req.Method == http.MethodGet {
				_, _ = w.Write(body)
			}
		})
	}
}

// lyingBlobs answers every blob request with bytes as long as the real
// blob but of another content.
func lyingBlobs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !strings.Contains(req.URL.Path, "/blobs/") || req.Method != http.MethodGet {
			next.ServeHTTP(w, req)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, req)
		body := bytes.Repeat([]byte("E"), rec.Body.Len())
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}
