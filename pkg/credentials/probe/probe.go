package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/credentials/netrc"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Stage is one step of a pull probe: login, manifest or layer.
type Stage struct {
	Registry string
	Image    string // "" for a login-only probe
	Name     string
	Err      string // "" when the stage passed; never holds a secret
	Fix      string
}

// Fixes for each stage that fails; a failed login's fix starts with the
// Prober's LoginFix.
const (
	refusedFix  = "a 401 means the registry refuses the credentials in the file"
	manifestFix = "check the image exists and the credentials may pull it (ECR: ecr:BatchGetImage and the repository policy)"
	s3Fix       = "ECR serves layers from S3: give the node's subnet an S3 gateway endpoint (or a route to S3) whose policy allows s3:GetObject on arn:aws:s3:::prod-<region>-starport-layer-bucket/*"
	blobFix     = "the registry sends layers to another host: let the node reach it (proxy, firewall, endpoint policy)"
)

// Prober pulls as enroot would. Its zero value is ready: the node's proxy
// (HTTPS_PROXY) and CAs (SSL_CERT_FILE).
type Prober struct {
	// Transport reaches the registries and the hosts they redirect to;
	// nil means http.DefaultTransport.
	Transport http.RoundTripper
	// LoginFix says what to do when login fails (refresh the file).
	LoginFix string
}

// requestTimeout bounds each request, its body included: a registry or
// blob store that hangs fails its stage, not the whole check.
const requestTimeout = 10 * time.Second

// Pull probes host with the netrc entry e: login alone when repo is "",
// else login, the manifest of repo at ref (a tag or a digest) and the first
// bytes of its first layer, stopping at the first stage that fails.
func (p Prober) Pull(ctx context.Context, host string, e netrc.Entry, repo, ref string) []Stage {
	image := ""
	if repo != "" {
		image = host + "#" + repo + ":" + ref
		if strings.HasPrefix(ref, "sha256:") {
			image = host + "#" + repo + "@" + ref
		}
	}
	st := func(name string, err error, fix string) Stage {
		s := Stage{Registry: host, Image: image, Name: name}
		if err != nil {
			s.Err, s.Fix = err.Error(), fix
		}
		return s
	}
	s := p.session(host, e)
	out := []Stage{st("login", s.login(ctx, repo), p.loginFix())}
	if repo == "" || out[0].Err != "" {
		return out
	}
	digest, err := s.firstLayer(ctx, repo, ref)
	out = append(out, st("manifest", err, manifestFix))
	if err != nil {
		return out
	}
	err = s.layer(ctx, repo, digest)
	fix := blobFix
	if err != nil && s.redirected != "" {
		what := "blob storage"
		if _, ecr := config.ParseRegistry(host); ecr == nil {
			what, fix = "S3", s3Fix
		}
		err = fmt.Errorf("%s unreachable (redirected to %s): %w", what, s.redirected, err)
	}
	return append(out, st("layer", err, fix))
}

func (p Prober) loginFix() string {
	if p.LoginFix == "" {
		return refusedFix
	}
	return p.LoginFix + "; " + refusedFix
}

// Result turns the stages into a check's result: one clause per registry
// or image, "login ok, manifest ok, layer: S3 unreachable: ...".
func Result(stages []Stage) verify.Result {
	var clauses, fixes []string
	failed := false
	for i := 0; i < len(stages); {
		key := stages[i].Image
		if key == "" {
			key = stages[i].Registry
		}
		var parts []string
		for ; i < len(stages) && (stages[i].Image == key || stages[i].Image == "" && stages[i].Registry == key); i++ {
			s := stages[i]
			if s.Err == "" {
				parts = append(parts, s.Name+" ok")
				continue
			}
			failed = true
			parts = append(parts, s.Name+": "+s.Err)
			if !slices.Contains(fixes, s.Fix) {
				fixes = append(fixes, s.Fix)
			}
		}
		clauses = append(clauses, key+": "+strings.Join(parts, ", "))
	}
	msg := strings.Join(clauses, "; ")
	if failed {
		return verify.Failf(strings.Join(fixes, "; "), "%s", msg)
	}
	return verify.Ok(fmt.Sprintf("%d probe(s) passed: %s", len(clauses), msg))
}

// Record keeps the latest probe's stages for the metrics, so a scrape never
// probes. The daemon holds one for its life; a nil Record keeps nothing.
type Record struct {
	mu     sync.Mutex
	stages []Stage
}

// Set replaces the stages kept.
func (r *Record) Set(stages []Stage) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.stages = slices.Clone(stages)
	r.mu.Unlock()
}

// Stages returns the latest probe's stages; none before the first probe.
func (r *Record) Stages() []Stage {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.stages)
}

// session is one registry's probe: the transport to it and, once login
// settled how enroot would authenticate, the client that does so.
type session struct {
	host   string
	auth   authn.Authenticator
	base   http.RoundTripper
	reg    name.Registry
	client *http.Client // set by login
	// redirected is the last host a redirect led to (ECR -> S3).
	redirected string
}

func (p Prober) session(host string, e netrc.Entry) *session {
	base := p.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	return &session{
		host: host,
		auth: authn.FromConfig(authn.AuthConfig{Username: e.Login, Password: e.Password.Reveal()}),
		base: httpsOnly{host: host, next: base},
	}
}

// login does what enroot does: GET /v2/, and on a 401 answer its challenge,
// Basic with the netrc entry, or Bearer by trading the entry for a token at
// the realm (scoped to repo when there is one).
func (s *session) login(ctx context.Context, repo string) error {
	reg, err := name.NewRegistry(s.host, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("%q is not a registry host: %w", s.host, err)
	}
	s.reg = reg
	pctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	ch, err := transport.Ping(pctx, reg, s.base)
	var te *transport.Error
	switch {
	case errors.As(err, &te):
		return fmt.Errorf("GET /v2/ answered %s", status(te.StatusCode))
	case err != nil:
		return unwrapURL(err)
	}
	switch strings.ToLower(ch.Scheme) {
	case "":
		// A 200, or a 401 without a challenge: Ping cannot tell them apart.
		return s.confirm(ctx, s.base, "GET /v2/")
	case "basic":
		rt, err := transport.FromToken(reg, s.auth, s.base, ch, nil)
		if err != nil {
			return err
		}
		return s.confirm(ctx, rt, "GET /v2/ with the credentials")
	case "bearer":
		return s.bearer(ctx, ch, repo)
	}
	return fmt.Errorf("GET /v2/ asks for %q authentication, which enroot does not speak", ch.Scheme)
}

// confirm GETs /v2/ through rt, which must answer 200, and keeps rt; what
// names the request in the error.
func (s *session) confirm(ctx context.Context, rt http.RoundTripper, what string) error {
	s.client = s.newClient(rt)
	resp, err := s.get(ctx, "https://"+s.host+"/v2/", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", what, resp.Status)
	}
	return nil
}

func (s *session) bearer(ctx context.Context, ch *transport.Challenge, repo string) error {
	realm := ch.Parameters["realm"]
	u, err := url.Parse(realm)
	if err != nil || u.Scheme != "https" {
		return fmt.Errorf("the Bearer realm %q is not an https URL", realm)
	}
	var scopes []string
	if repo != "" {
		scopes = []string{"repository:" + repo + ":" + transport.PullScope}
	}
	tctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	tok, err := transport.Exchange(tctx, s.reg, s.auth, s.base, scopes, ch)
	if err != nil {
		return tokenError(u.Host, err)
	}
	if tok.Token == "" {
		tok.Token = tok.AccessToken // some endpoints answer access_token only
	}
	rt, err := transport.FromToken(s.reg, s.auth, s.base, ch, tok)
	if err != nil {
		return err
	}
	s.client = s.newClient(rt)
	return nil
}

// tokenError says what the token endpoint did, never what it sent.
func tokenError(host string, err error) error {
	var te *transport.Error
	var ue *url.Error
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te):
		return fmt.Errorf("the token endpoint %s answered %s", host, status(te.StatusCode))
	case errors.As(err, &ue):
		return ue.Err
	case errors.As(err, &syntax), errors.As(err, &typ), strings.HasPrefix(err.Error(), "no token in bearer response"):
		return fmt.Errorf("the token endpoint %s answered no token", host)
	}
	return fmt.Errorf("Bearer login at %s: %w", host, err)
}

// manifestAccept is every manifest kind enroot imports, and the indexes
// that name them.
const manifestAccept = string(types.OCIImageIndex) + ", " + string(types.DockerManifestList) + ", " +
	string(types.OCIManifestSchema1) + ", " + string(types.DockerManifestSchema2)

type manifest struct {
	Manifests []struct {
		Digest   string
		Platform struct{ OS, Architecture string }
	}
	Layers []struct{ Digest string }
}

// firstLayer fetches the manifest (following an index to this node's
// platform) and returns its first layer's digest.
func (s *session) firstLayer(ctx context.Context, repo, ref string) (string, error) {
	m, err := s.manifest(ctx, repo, ref)
	if err != nil {
		return "", err
	}
	if len(m.Manifests) > 0 {
		pick := m.Manifests[0].Digest
		for _, d := range m.Manifests {
			if d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
				pick = d.Digest
				break
			}
		}
		if m, err = s.manifest(ctx, repo, pick); err != nil {
			return "", err
		}
	}
	if len(m.Layers) == 0 {
		return "", errors.New("the manifest lists no layer")
	}
	return m.Layers[0].Digest, nil
}

func (s *session) manifest(ctx context.Context, repo, ref string) (manifest, error) {
	var m manifest
	resp, err := s.get(ctx, "https://"+s.host+"/v2/"+repo+"/manifests/"+ref, map[string]string{"Accept": manifestAccept})
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("GET manifest %s:%s answered %s", repo, ref, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&m); err != nil {
		return m, fmt.Errorf("the manifest of %s:%s is not JSON", repo, ref)
	}
	return m, nil
}

// layerProbeBytes bounds the layer read: enough to prove bytes flow.
const layerProbeBytes = 1024

// layer reads the first bytes of one blob, following the registry's
// redirect (ECR answers with a presigned S3 URL, which must get no
// Authorization: the transport sets it for the registry's host only).
func (s *session) layer(ctx context.Context, repo, digest string) error {
	resp, err := s.get(ctx, "https://"+s.host+"/v2/"+repo+"/blobs/"+digest,
		map[string]string{"Range": fmt.Sprintf("bytes=0-%d", layerProbeBytes-1)})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		return fmt.Errorf("GET blob answered %s", resp.Status)
	}
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, layerProbeBytes))
	if err != nil || n == 0 {
		return fmt.Errorf("read %d bytes of the blob: %v", n, err)
	}
	return nil
}

// newClient follows at most 5 redirects, recording where they led.
func (s *session) newClient(rt http.RoundTripper) *http.Client {
	return &http.Client{Transport: rt, Timeout: requestTimeout, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		s.redirected = req.URL.Host
		if len(via) >= 5 {
			return fmt.Errorf("stopped after %d redirects", len(via))
		}
		return nil
	}}
}

// get sends one request through the client login settled on. Transport
// errors lose the URL, which may be a presigned one (the caller names the
// host).
func (s *session) get(ctx context.Context, u string, headers map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	s.redirected = ""
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, unwrapURL(err)
	}
	return resp, nil
}

// unwrapURL drops the URL from a transport error: the first *url.Error's
// cause, else err.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// status is how net/http words a status line: "401 Unauthorized".
func status(code int) string { return fmt.Sprintf("%d %s", code, http.StatusText(code)) }

// httpsOnly refuses plain HTTP to the registry: go-containerregistry tries
// it for a loopback or RFC 1918 address when HTTPS fails, and enroot would
// not. Redirects elsewhere go through as they come.
type httpsOnly struct {
	host string
	next http.RoundTripper
}

func (h httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" && req.URL.Host == h.host {
		return nil, fmt.Errorf("plain HTTP to the registry %s refused: enroot speaks HTTPS", h.host)
	}
	return h.next.RoundTrip(req)
}
