package imagecache

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/realchain"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// A user runs a registry that answers every manifest request with their
// own image and the digest of the image the next user's job will pull
// (issue finding 1), and asks the cache for it from a real job step with
// the real importer: their own `enroot digest` (real Enroot, which trusts
// the registry's header) hands the victim's digest to the daemon. The
// daemon fetches the manifest itself, finds that it does not hash to that
// digest and refuses; nothing is cached under the victim's digest, and the
// users after them run the real image (the test that follows).
func lyingRegistry(t *testing.T, c *realchain.Chain, dlog *syncLog) {
	victim := victimDigest(t, c)
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	var evilManifest atomic.Pointer[[]byte] // set once pushed: from then on, manifests lie
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := evilManifest.Load()
		if body == nil || r.Method == http.MethodPut || !strings.HasPrefix(r.URL.Path, "/v2/x/evil/manifests/") {
			inner.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", string(types.DockerManifestSchema2))
		w.Header().Set("Docker-Content-Digest", victim)
		if r.Method == http.MethodGet {
			_, _ = w.Write(*body)
		}
	}))
	defer hostile.Close()
	host := strings.TrimPrefix(hostile.URL, "http://")
	evil, err := mutate.AppendLayers(empty.Image, static.NewLayer([]byte("the attacker's files"), types.DockerLayer))
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.NewTag(host+"/x/evil:latest", name.Insecure)
	if err := remote.Write(ref, evil); err != nil {
		t.Fatal(err)
	}
	raw, _ := evil.RawManifest()
	evilManifest.Store(&raw)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	uri := "docker://" + host + "#x/evil:latest"
	out, err := c.SrunTask(ctx, c.User, []string{"ENROOT_ALLOW_HTTP=y"}, realchain.DefaultImporter, "get", uri).CombinedOutput()
	if !strings.Contains(string(out), "lies about the digest") || strings.Contains(string(out), "/var/cache/enroot-agent-images") {
		t.Fatalf("the attacker's request: %v\n%s\ndaemon:\n%s", err, c.Redact(string(out)), c.Redact(dlog.String()))
	}
	hex := strings.TrimPrefix(victim, "sha256:")
	if _, err := os.Stat(filepath.Join("/var/cache/enroot-agent-images", "sha256", hex+".sqsh")); err == nil {
		t.Fatal("a file is cached under the victim's digest")
	}
	if !strings.Contains(dlog.String(), "image cache cannot serve") {
		t.Fatalf("the daemon did not refuse:\n%s", c.Redact(dlog.String()))
	}
	t.Logf("the attacker was refused:\n%s", tailOf(c.Redact(string(out))))
}

// victimDigest is the digest of the chain's image, as its registry has it.
func victimDigest(t *testing.T, c *realchain.Chain) string {
	ref, err := name.NewTag(c.Host + ":" + c.Registry.Port + "/ml/hello:v1")
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(ref, remote.WithTransport(c.Registry.Transport()),
		remote.WithAuth(&authn.Basic{Username: "AWS", Password: c.Token()}))
	if err != nil {
		t.Fatal(err)
	}
	return desc.Digest.String()
}
