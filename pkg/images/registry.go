package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"

	"github.com/enroot-agent/enroot-agent/pkg/imageref"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Registry is how the daemon itself reads registries: with the agent's own
// credentials (the netrc file enroot reads), never a user's. What it returns
// has been checked against the digest asked for, so a registry that lies
// about a digest gets an error, never a place in the cache.
type Registry struct {
	// Netrc is the agent's credentials file ("": anonymous).
	Netrc string
	// Transport reaches the registries (proxy, CAs); nil: newTransport(nil).
	Transport http.RoundTripper
	// Arch is the platform an index is resolved to (runtime.GOARCH: amd64,
	// arm64, as enroot's debarch names it).
	Arch string

	pullers     pullers   // the registries' handshakes (pullers.go)
	netrc       netrcFile // the credentials file as last read (creds.go)
	platforms   platforms // platform manifests of indexes, verified (platforms.go)
	defaultOnce sync.Once
	defaultT    http.RoundTripper
}

// maxManifest bounds a manifest or index read into memory. Real ones are a
// few KiB; a registry that sends more is not one the cache reads from.
const maxManifest = 4 << 20

// Verified is an image manifest whose bytes hash to Digest, reached from
// the digest a user asked for (the same, or an index naming it).
type Verified struct {
	Image     imageref.Image
	Requested imageref.Digest // what the user asked for
	Digest    imageref.Digest // the image manifest: the cache's key
	Manifest  []byte
	MediaType types.MediaType
	Config    v1.Descriptor
	Layers    []v1.Descriptor
}

// Blobs are the blobs an import fetches: the config, then the layers.
func (v *Verified) Blobs() []v1.Descriptor { return append([]v1.Descriptor{v.Config}, v.Layers...) }

// Compressed is what the registry sends for the image, a floor for its
// squashfs (enroot stores it uncompressed).
func (v *Verified) Compressed() int64 {
	var n int64
	for _, b := range v.Blobs() {
		n += b.Size
	}
	return n
}

// Verify fetches im at d and checks that the bytes hash to d; an index is
// followed to the manifest of this node's architecture, fetched and checked
// the same way the first time this source names it (platforms.go). Only
// image manifests enroot can import are accepted.
func (r *Registry) Verify(ctx context.Context, im imageref.Image, d imageref.Digest) (*Verified, error) {
	body, mt, err := r.manifest(ctx, im, d)
	if err != nil {
		return nil, err
	}
	v := &Verified{Image: im, Requested: d, Digest: d, Manifest: body, MediaType: mt}
	if mt.IsIndex() {
		p, m, err := r.followIndex(ctx, im, d, body)
		if err != nil {
			return nil, err
		}
		v.Digest, v.Manifest, v.MediaType = p, m.body, m.mt
	}
	return v, v.parse()
}

// followIndex is the manifest of this node's platform that index (im's, at
// d) names: kept from an earlier hit of this source, else fetched, checked
// and kept (platforms.go).
func (r *Registry) followIndex(ctx context.Context, im imageref.Image, d imageref.Digest, index []byte) (imageref.Digest, platformManifest, error) {
	p, err := r.platform(index)
	if err != nil {
		return "", platformManifest{}, fmt.Errorf("%s: %w", im.Pinned(d), err)
	}
	if m, ok := r.platforms.get(im.Source(), p); ok {
		return p, m, nil
	}
	body, mt, err := r.manifest(ctx, im, p)
	if err != nil {
		return "", platformManifest{}, err
	}
	m := platformManifest{body: body, mt: mt}
	r.platforms.put(im.Source(), p, m)
	return p, m, nil
}

// Fetched is the image manifest a reference named when the daemon read
// it, hashed: what a get's Verify would fetch, read while the user's
// enroot digest ran (importer.PathGetV2). An index is followed to this
// node's platform, as enroot digest follows it.
type Fetched struct {
	Digest   imageref.Digest // the image manifest's
	Index    imageref.Digest // the index it was reached through, if any
	manifest []byte
	mt       types.MediaType
}

// Fetch reads what ref (a tag, or a digest the URI pins) names now, with
// the agent's credentials; it is the one manifest request of a hit, made
// before the user's digest is known. Nothing is trusted from it: the bytes
// are hashed here, and VerifyFetched uses them only for that hash.
func (r *Registry) Fetch(ctx context.Context, im imageref.Image, ref string) (*Fetched, error) {
	var nref name.Reference
	var err error
	if strings.HasPrefix(ref, "sha256:") {
		nref, err = name.NewDigest(im.Host()+"/"+im.Path()+"@"+ref, name.StrictValidation)
	} else {
		nref, err = name.NewTag(im.Host()+"/"+im.Path()+":"+ref, name.StrictValidation)
	}
	if err != nil {
		return nil, err
	}
	desc, err := r.getManifest(ctx, nref)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(desc.Manifest)
	f := &Fetched{Digest: imageref.Digest("sha256:" + hex.EncodeToString(sum[:])), manifest: desc.Manifest, mt: desc.MediaType}
	if !f.mt.IsIndex() {
		return f, nil
	}
	p, m, err := r.followIndex(ctx, im, f.Digest, f.manifest)
	if err != nil {
		return nil, err
	}
	return &Fetched{Digest: p, Index: f.Digest, manifest: m.body, mt: m.mt}, nil
}

// VerifyFetched is Verify of d, answered from f when f hashed to d (or to
// the index naming it) moments ago; otherwise (the tag moved, a user names
// another digest, f is nil) it fetches d as Verify does.
func (r *Registry) VerifyFetched(ctx context.Context, im imageref.Image, d imageref.Digest, f *Fetched) (*Verified, error) {
	if f == nil || (d != f.Digest && d != f.Index) {
		return r.Verify(ctx, im, d)
	}
	v := &Verified{Image: im, Requested: d, Digest: f.Digest, Manifest: f.manifest, MediaType: f.mt}
	return v, v.parse()
}

// manifest GETs im@d and checks its sha256 itself: go-containerregistry
// checks too, except for signed schema 1 manifests, whose digest it takes
// from the registry's header.
func (r *Registry) manifest(ctx context.Context, im imageref.Image, d imageref.Digest) ([]byte, types.MediaType, error) {
	ref, err := name.NewDigest(im.Host()+"/"+im.Path()+"@"+string(d), name.StrictValidation)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", im.Pinned(d), err)
	}
	desc, err := r.getManifest(ctx, ref)
	if err != nil && strings.Contains(err.Error(), "does not match requested digest") {
		return nil, "", fmt.Errorf("%s answered a manifest of another digest: the registry lies about the digest (%w)", im.Pinned(d), err)
	}
	if err != nil {
		return nil, "", fmt.Errorf("fetching the manifest of %s with the agent's credentials: %w", im.Pinned(d), err)
	}
	sum := sha256.Sum256(desc.Manifest)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != string(d) {
		return nil, "", fmt.Errorf("%s answered a manifest whose sha256 is %s: the registry lies about the digest", im.Pinned(d), got)
	}
	return desc.Manifest, desc.MediaType, nil
}

// platform picks the manifest enroot would: the first of this
// architecture (and of linux, where the index says).
func (r *Registry) platform(index []byte) (imageref.Digest, error) {
	idx, err := v1.ParseIndexManifest(bytes.NewReader(index))
	if err != nil {
		return "", fmt.Errorf("unreadable index: %w", err)
	}
	arch := r.Arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	for _, m := range idx.Manifests {
		if m.Platform == nil || m.Platform.Architecture != arch || (m.Platform.OS != "" && m.Platform.OS != "linux") {
			continue
		}
		if m.MediaType.IsIndex() {
			return "", fmt.Errorf("the %s entry of the index is an index itself, which enroot cannot import", arch)
		}
		return imageref.ParseDigest(m.Digest.String())
	}
	return "", fmt.Errorf("the index has no linux/%s image", arch)
}

// parse reads the config and layers, refusing what enroot cannot import.
func (v *Verified) parse() error {
	switch v.MediaType {
	case types.DockerManifestSchema2, types.OCIManifestSchema1:
	default:
		return fmt.Errorf("%s is a %q, not an image manifest enroot imports", v.Image.Pinned(v.Digest), v.MediaType)
	}
	m, err := v1.ParseManifest(bytes.NewReader(v.Manifest))
	if err != nil {
		return fmt.Errorf("%s: unreadable manifest: %w", v.Image.Pinned(v.Digest), err)
	}
	if len(m.Layers) == 0 {
		return fmt.Errorf("%s has no layers", v.Image.Pinned(v.Digest))
	}
	for _, b := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if b.Digest.Algorithm != "sha256" || len(b.Digest.Hex) != 64 || b.Size < 0 {
			return fmt.Errorf("%s names a blob %q of size %d, not a sha256 blob", v.Image.Pinned(v.Digest), b.Digest, b.Size)
		}
	}
	v.Config, v.Layers = m.Config, m.Layers
	return nil
}

// Blob streams one blob of v from its registry. The reader fails at the
// end (or as soon as it is longer) when the bytes are not the blob's.
func (r *Registry) Blob(ctx context.Context, v *Verified, b v1.Descriptor) (io.ReadCloser, error) {
	ref, err := name.NewDigest(v.Image.Host()+"/"+v.Image.Path()+"@"+b.Digest.String(), name.StrictValidation)
	if err != nil {
		return nil, err
	}
	l, err := remote.Layer(ref, r.options(ctx, v.Image)...)
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, fmt.Errorf("fetching blob %s of %s: %w", b.Digest, v.Image, err)
	}
	return newBlobReader(rc, b), nil
}

// Resolve is the digest tag points at now, read with the agent's
// credentials (prepull). The digest is only a name here: Verify checks it.
func (r *Registry) Resolve(ctx context.Context, im imageref.Image, tag string) (imageref.Digest, error) {
	ref, err := name.NewTag(im.Host()+"/"+im.Path()+":"+tag, name.StrictValidation)
	if err != nil {
		return "", err
	}
	desc, err := r.getManifest(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("resolving %s:%s with the agent's credentials: %w", im, tag, err)
	}
	sum := sha256.Sum256(desc.Manifest)
	return imageref.Digest("sha256:" + hex.EncodeToString(sum[:])), nil
}

func (r *Registry) options(ctx context.Context, im imageref.Image) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.WithTransport(limitManifests{r.transport()}), remote.WithAuth(authenticator(r.authConfig(im.Host())))}
}

// authenticator is anonymous for empty credentials (no netrc entry).
func authenticator(c authn.AuthConfig) authn.Authenticator {
	if c == (authn.AuthConfig{}) {
		return authn.Anonymous
	}
	return authn.FromConfig(c)
}

// transport is Transport, or one default transport for the Registry's life
// (its connections kept alive between checks).
func (r *Registry) transport() http.RoundTripper {
	if r.Transport != nil {
		return r.Transport
	}
	r.defaultOnce.Do(func() { r.defaultT, _ = newTransport(nil) })
	return r.defaultT
}

// authConfig is the agent's netrc entry for host, as enroot picks it (the
// host without its port); anonymous (empty) without one. The file is
// checked at each use (the refresher rotates the tokens in it) and read
// again when it changed.
func (r *Registry) authConfig(host string) authn.AuthConfig {
	if r.Netrc == "" {
		return authn.AuthConfig{}
	}
	file := r.netrc.get(r.Netrc)
	if file == nil {
		return authn.AuthConfig{}
	}
	h, _, _ := strings.Cut(host, ":")
	e, ok := file.Lookup(h)
	if !ok {
		return authn.AuthConfig{}
	}
	return authn.AuthConfig{Username: e.Login, Password: e.Password.Reveal()}
}

// limitManifests cuts a manifest answer at maxManifest, so a registry
// cannot make the daemon read 100 MiB (go-containerregistry's own bound)
// per request.
type limitManifests struct{ http.RoundTripper }

func (l limitManifests) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.RoundTripper.RoundTrip(req)
	if err == nil && strings.Contains(req.URL.Path, "/manifests/") {
		resp.Body = &capped{ReadCloser: resp.Body, left: maxManifest}
	}
	return resp, err
}

type capped struct {
	io.ReadCloser
	left int64
}

var errTooBig = errors.New("manifest larger than 4 MiB")

func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errTooBig
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.ReadCloser.Read(p)
	c.left -= int64(n)
	return n, err
}
