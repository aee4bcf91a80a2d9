package images

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/pkg/imageref"
	"github.com/enroot-agent/enroot-agent/pkg/importer"
)

// A hit over /v2/get makes the daemon's one manifest request while the
// user's enroot digest runs: the digest here waits until the registry has
// been asked for the tag, which only the daemon's early read does, and
// the hit then fetches nothing by digest.
func TestHitReadsTheManifestWhileTheDigestRuns(t *testing.T) {
	f := newFakeEnroot(t, 0)
	reg := newTestRegistry(t)
	_, d := reg.push(t, "ml/hello:v1", "read early")
	base := worldDir(t)
	c := testCache(t, filepath.Join(base, "cache"), "n1")
	_, sock := serveCache(t, c, base)
	im := newImporterUnderStep(t, base, sock)
	uri := "docker://" + reg.Host + "#ml/hello:v1"
	if path, stderr, err := im.run(t, "get", uri); err != nil || path != c.Store.Path(d) {
		t.Fatalf("the miss: %q, %v\n%s", path, err, stderr)
	}
	if _, stderr, err := im.run(t, "release"); err != nil {
		t.Fatalf("release: %v\n%s", err, stderr)
	}
	gate := filepath.Join(base, "tag-asked")
	f.configure(t, fakeConf{DigestGate: gate})
	reg.lie(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/manifests/v1") {
				_ = os.WriteFile(gate, nil, 0o644)
			}
			next.ServeHTTP(w, r)
		})
	})
	byDigest := reg.requests("GET /v2/ml/hello/manifests/sha256:")
	path, stderr, err := im.run(t, "get", uri)
	if err != nil || path != c.Store.Path(d) || strings.Contains(stderr, "not used") {
		t.Fatalf("the hit: %q, %v\n%s", path, err, stderr)
	}
	if n := reg.requests("GET /v2/ml/hello/manifests/sha256:") - byDigest; n != 0 || c.Stats.Snapshot().Hits != 1 {
		t.Fatalf("the hit fetched the manifest by digest %d times (want 0, the tag's was used); %+v", n, c.Stats.Snapshot())
	}
}

// What the tag names is used only for the digest it hashes to: another
// digest (the tag moved, or a user names another image) is fetched and
// checked as /v1/get does, and an index is followed as enroot digest
// follows it.
func TestVerifyFetched(t *testing.T) {
	reg := newTestRegistry(t)
	_, old := reg.push(t, "ml/hello:v1", "before the tag moved")
	_, now := reg.push(t, "ml/hello:v1", "after")
	index, platform := reg.pushIndex(t, "ml/multi:v1", "multi")
	c := testCache(t, filepath.Join(worldDir(t), "cache"), "n1")
	ctx := context.Background()
	f, err := c.Registry.Fetch(ctx, reg.image("ml/hello"), "v1")
	if err != nil || f.Digest != now || f.Index != "" {
		t.Fatalf("fetch by tag: %+v, %v; want %s", f, err, now)
	}
	before := reg.requests("GET /v2/ml/hello/manifests/")
	if v, err := c.Registry.VerifyFetched(ctx, reg.image("ml/hello"), now, f); err != nil || v.Digest != now {
		t.Fatalf("verify of the tag's digest: %+v, %v", v, err)
	}
	if n := reg.requests("GET /v2/ml/hello/manifests/") - before; n != 0 {
		t.Fatalf("verifying what was just fetched made %d requests", n)
	}
	if v, err := c.Registry.VerifyFetched(ctx, reg.image("ml/hello"), old, f); err != nil || v.Digest != old {
		t.Fatalf("verify of another digest: %+v, %v", v, err)
	}
	if n := reg.requests("GET /v2/ml/hello/manifests/sha256:" + old.Encoded()); n != 1 {
		t.Fatalf("another digest was fetched %d times, want 1", n)
	}
	f, err = c.Registry.Fetch(ctx, reg.image("ml/multi"), "v1")
	if err != nil || f.Digest != platform || f.Index != index {
		t.Fatalf("fetch of an index: %+v, %v; want %s through %s", f, err, platform, index)
	}
	for _, d := range []imageref.Digest{platform, index} {
		before := reg.requests("GET /v2/ml/multi/manifests/")
		v, err := c.Registry.VerifyFetched(ctx, reg.image("ml/multi"), d, f)
		if err != nil || v.Digest != platform || v.Requested != d || reg.requests("GET /v2/ml/multi/manifests/") != before {
			t.Fatalf("verify of %s: %+v, %v", d, v, err)
		}
	}
	if _, err := c.Registry.Fetch(ctx, reg.image("ml/none"), "v1"); err == nil {
		t.Fatal("a tag that does not exist was fetched")
	}
}

// /v2/get's body, read from literal bytes: a request line without its
// digest, then exactly one digest line.
func TestV2BodyLines(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	for _, c := range []struct{ body, err string }{
		{body: `{"uri":"docker://h#a/b:c","job":"7","step":"0"}` + "\n" + digest + "\n"},
		{body: `{"uri":"docker://h#a/b:c","digest":"` + digest + `","job":"7","step":"0"}` + "\n" + digest + "\n", err: "the digest goes on a line of its own"},
		{body: `{"uri":"x","job":"7","step":"0","other":1}` + "\n" + digest + "\n", err: "unknown field"},
		{body: `{"uri":"x","job":"7","step":"0"}`, err: "bad request: EOF"},
		{body: `{"uri":"x","job":"7","step":"0"}` + "\n" + digest, err: "no digest line"},
		{body: `{"uri":"x","job":"7","step":"0"}` + "\n" + digest + "x", err: "does not end the request"},
		{body: `{"uri":"x","job":"7","step":"0"}` + "\n" + digest + "\nmore", err: "bytes after the digest line"},
		{body: `{"uri":"x","job":"7","step":"0"}` + "\nsha256:" + strings.Repeat("AB", 32) + "\n", err: "sha256"},
	} {
		r := bufio.NewReader(strings.NewReader(c.body))
		_, err := decodeLine(r)
		if err == nil {
			_, err = readDigestLine(r)
		}
		if (c.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("%.60q: %v, want %q", c.body, err, c.err)
		}
	}
	if importer.DigestLine != len(digest)+1 {
		t.Fatalf("DigestLine %d", importer.DigestLine)
	}
}
