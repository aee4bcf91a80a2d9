package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"go.uber.org/zap"
)

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
