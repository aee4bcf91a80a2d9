package artifact

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/internal/flock"
	"go.uber.org/zap"
)

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
	// S3 builds the S3 client on first use of an s3:// URL; see NewS3Client.
	S3 func(ctx context.Context, hc *http.Client) (S3API, error)

	http *http.Client
	s3   S3API
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
		S3:       NewS3Client,
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
