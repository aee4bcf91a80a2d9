package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/internal/awsproc"
	"github.com/enroot-agent/enroot-agent/internal/flock"
	"go.uber.org/zap"
)

// Request names one file to fetch.
type Request struct {
	// URL is the file's full address: https://, http://, s3:// or file://.
	URL string
	// Name is the file's name in the cache and in SHA256SUMS; it defaults
	// to the last element of URL.
	Name string
	// SHA256 is the pinned digest (hex). Empty means: look for a SHA256SUMS
	// file in the same directory as URL.
	SHA256 string
	// RequirePinned makes a file with no digest anywhere an error.
	RequirePinned bool
}

// Result is a verified file in the cache.
type Result struct {
	Path   string // the cached file; never modified once verified
	SHA256 string // the digest of the file as fetched
	// PinnedBy says where the expected digest came from: PinnedByConfig,
	// PinnedBySums, or "" when the file is unpinned.
	PinnedBy string
	// Cached is true when the file was already in the cache and no
	// download was needed.
	Cached bool
}

// Where a digest came from.
const (
	PinnedByConfig = "config"
	PinnedBySums   = "SHA256SUMS"
)

// Unpinned reports whether no digest vouched for the file.
func (r Result) Unpinned() bool { return r.PinnedBy == "" }

// SumsFile is the name of the digest list looked for beside a file.
const SumsFile = "SHA256SUMS"

// Expand replaces every {version} in tmpl, as used in source URLs.
func Expand(tmpl, version string) string {
	return strings.ReplaceAll(tmpl, "{version}", version)
}

// Join appends a file name to a base URL such as
// "https://example.com/releases/v1/" or "s3://bucket/prefix".
func Join(base, name string) string {
	return strings.TrimSuffix(base, "/") + "/" + name
}

func (r Request) name() string {
	if r.Name != "" {
		return r.Name
	}
	return path.Base(r.URL)
}

// sumsURL is the SHA256SUMS beside the file.
func (r Request) sumsURL() string {
	i := strings.LastIndex(r.URL, "/")
	return r.URL[:i+1] + SumsFile
}

// MismatchError is returned when a file's digest is not the expected one.
// The file is discarded; nothing downstream sees it.
type MismatchError struct {
	Name     string
	URL      string
	Expected string
	Actual   string
	PinnedBy string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s: sha256 mismatch: expected %s (from %s), got %s (downloaded from %s); the file was discarded",
		e.Name, e.Expected, e.PinnedBy, e.Actual, e.URL)
}

// UnpinnedError is returned when RequirePinned is set and no digest exists.
type UnpinnedError struct {
	Name string
	URL  string
}

func (e *UnpinnedError) Error() string {
	return fmt.Sprintf("%s: no sha256 pinned in the config and no %s at %s; refusing an unverified download (pin its digest)",
		e.Name, SumsFile, strings.TrimSuffix(e.URL, path.Base(e.URL)))
}

// Redact hides a password in a URL's user info (https://user:pass@mirror/)
// before it reaches a log line, an error or a plan.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}

// Fetcher downloads files into one cache directory. The zero value is not
// usable: build it with New and adjust the fields before the first Fetch. A
// Fetcher is meant for one run of the agent (it remembers SHA256SUMS files)
// and is not safe for concurrent use.
type Fetcher struct {
	// Dir is the cache directory (already re-rooted). It is created root-only.
	Dir string
	Log *zap.Logger
	// Attempts bounds tries per file, the first one included.
	Attempts int
	// MinBackoff doubles after each failed attempt, up to MaxBackoff; each
	// wait is jittered so a thousand nodes do not retry in step.
	MinBackoff, MaxBackoff time.Duration
	Timeouts               Timeouts
	// S3 opens s3:// URLs; New sets the AWS helper beside the agent.
	S3 S3Opener

	http *http.Client
	// sums caches each SHA256SUMS read, so the files of one release cost
	// one request for their digests.
	sums map[string]map[string]string
}

// Timeouts keep an unreachable or stalled source from hanging the agent.
type Timeouts struct {
	Connect time.Duration // TCP connect and TLS handshake
	Header  time.Duration // request sent to first response byte
	Stall   time.Duration // longest gap between two body reads that make progress
}

// New returns a Fetcher with defaults suited to a node fetching a few
// megabytes: 4 attempts, 1s..30s backoff, 10s connect, 30s header, 60s stall.
// An air-gapped node thus fails in about a minute, with a clear error.
func New(dir string, log *zap.Logger) *Fetcher {
	return &Fetcher{
		Dir: dir, Log: log, Attempts: 4,
		MinBackoff: time.Second, MaxBackoff: 30 * time.Second,
		Timeouts: Timeouts{Connect: 10 * time.Second, Header: 30 * time.Second, Stall: 60 * time.Second},
		S3:       S3Helper{Helper: awsproc.Beside()},
	}
}

// CachePath is where Fetch keeps the file of req.
func (f *Fetcher) CachePath(req Request) string { return filepath.Join(f.Dir, req.name()) }

// Fetch returns a verified copy of req's file in the cache, downloading it
// only when the cache does not already hold a file with the expected digest.
func (f *Fetcher) Fetch(ctx context.Context, req Request) (Result, error) {
	name := req.name()
	if name == "" || name == "." || name == "/" || strings.HasPrefix(name, ".") || strings.Contains(name, "/") {
		return Result{}, fmt.Errorf("%q has no usable file name", req.URL)
	}
	if _, err := atomicfile.EnsureDir(f.Dir, atomicfile.Options{Mode: 0o700, UID: -1, GID: -1}); err != nil {
		return Result{}, fmt.Errorf("cache dir: %w", err)
	}
	// `enroot-agent apply` run by hand while the daemon converges must not
	// write the same part file twice.
	unlock, err := flock.Dir(ctx, f.Dir)
	if err != nil && ctx.Err() != nil {
		return Result{}, fmt.Errorf("waiting for another enroot-agent to finish downloading into %s: %w", f.Dir, err)
	}
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	want, by, err := f.expected(ctx, req, name)
	if err != nil {
		return Result{}, err
	}
	dest := filepath.Join(f.Dir, name)
	if res, ok := f.fromCache(dest, want, by); ok {
		return res, nil
	}
	got, err := f.download(ctx, req.URL, dest, want)
	if err == nil && want != "" && got != want {
		_ = os.Remove(partPath(dest))
		err = &MismatchError{Name: name, URL: Redact(req.URL), Expected: want, Actual: got, PinnedBy: by}
	}
	if err != nil {
		return Result{}, err
	}
	if err := os.Rename(partPath(dest), dest); err != nil {
		return Result{}, fmt.Errorf("cache %s: %w", name, err)
	}
	if by == "" {
		f.Log.Warn("downloaded file is unpinned: no sha256 in the config and no SHA256SUMS at the source",
			zap.String("file", name), zap.String("sha256", got), zap.String("url", Redact(req.URL)))
	}
	return Result{Path: dest, SHA256: got, PinnedBy: by}, nil
}

// expected finds the digest to verify against, and where it came from.
func (f *Fetcher) expected(ctx context.Context, req Request, name string) (string, string, error) {
	if req.SHA256 != "" {
		return strings.ToLower(req.SHA256), PinnedByConfig, nil
	}
	sums, err := f.fetchSums(ctx, req.sumsURL())
	if err != nil {
		return "", "", err
	}
	if d, ok := sums[name]; ok {
		return d, PinnedBySums, nil
	}
	if req.RequirePinned {
		return "", "", &UnpinnedError{Name: name, URL: Redact(req.URL)}
	}
	return "", "", nil
}

// fromCache accepts a cached file when it has the wanted digest, or, for an
// unpinned file, when it is complete (only complete files get their name).
func (f *Fetcher) fromCache(dest, want, by string) (Result, bool) {
	got, err := atomicfile.SHA256(dest)
	if err != nil {
		return Result{}, false
	}
	if want != "" && got != want {
		f.Log.Warn("cached file has the wrong digest; downloading it again", zap.String("file", dest))
		_ = os.Remove(dest)
		return Result{}, false
	}
	return Result{Path: dest, SHA256: got, PinnedBy: by, Cached: true}, true
}

// fetchSums reads SHA256SUMS at the source; a missing file is an empty list.
func (f *Fetcher) fetchSums(ctx context.Context, url string) (map[string]string, error) {
	if sums, ok := f.sums[url]; ok {
		return sums, nil
	}
	var buf strings.Builder
	err := f.retry(ctx, url, func(ctx context.Context) error {
		buf.Reset()
		body, _, err := f.open(ctx, url, 0)
		if err != nil {
			return err
		}
		defer body.Close()
		_, err = io.Copy(&buf, io.LimitReader(body, 1<<20))
		return retryable(err)
	})
	if errors.Is(err, ErrNotFound) {
		err, buf = nil, strings.Builder{}
	}
	if err != nil {
		return nil, err
	}
	sums, err := ParseSums(buf.String())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Redact(url), err)
	}
	if f.sums == nil {
		f.sums = map[string]map[string]string{}
	}
	f.sums[url] = sums
	return sums, nil
}

// ParseSums reads a SHA256SUMS file as written by sha256sum: one
// "<64 hex>  <name>" per line, the name optionally prefixed with '*' (binary
// mode) or a path. Blank lines and '#' comments are skipped. Names are keyed
// by their last path element, since that is how files are requested.
func ParseSums(data string) (map[string]string, error) {
	sums := map[string]string{}
	for i, line := range strings.Split(data, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		digest, name, ok := strings.Cut(line, " ")
		name = strings.TrimPrefix(strings.TrimLeft(name, " "), "*")
		if i := strings.LastIndex(name, "/"); i >= 0 {
			name = name[i+1:]
		}
		digest = strings.ToLower(digest)
		if !ok || !isHexDigest(digest) || name == "" {
			return nil, fmt.Errorf("%s line %d: not \"<sha256>  <file>\"", SumsFile, i+1)
		}
		if prev, dup := sums[name]; dup && prev != digest {
			return nil, fmt.Errorf("%s line %d: %s listed twice with different digests", SumsFile, i+1, name)
		}
		sums[name] = digest
	}
	return sums, nil
}

func isHexDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
