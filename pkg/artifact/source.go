package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/awsproc"
	"github.com/enroot-agent/enroot-agent/internal/awswire"
)

// open starts reading url at offset. It returns the offset the body really
// starts at: 0 when the source ignored the range.
func (f *Fetcher) open(ctx context.Context, rawURL string, offset int64) (io.ReadCloser, int64, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, 0, permanent(fmt.Errorf("%q is not a URL: %w", Redact(rawURL), err))
	}
	switch u.Scheme {
	case "http", "https":
		return f.openHTTP(ctx, rawURL, offset)
	case "s3":
		return f.openS3(ctx, u, offset)
	case "file":
		return openFile(u.Path, offset)
	}
	return nil, 0, permanent(fmt.Errorf("%s: scheme %q is not supported (https, http, s3 or file)", u.Redacted(), u.Scheme))
}

// httpClient keeps the environment's proxy settings (clusters without direct
// internet often have one) and adds the connect and header timeouts.
func (f *Fetcher) httpClient() *http.Client {
	if f.http == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = (&net.Dialer{Timeout: f.Timeouts.Connect}).DialContext
		tr.TLSHandshakeTimeout = f.Timeouts.Connect
		tr.ResponseHeaderTimeout = f.Timeouts.Header
		f.http = &http.Client{Transport: tr}
	}
	return f.http
}

func (f *Fetcher) openHTTP(ctx context.Context, rawURL string, offset int64) (io.ReadCloser, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, 0, permanent(err)
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	shown := Redact(rawURL)
	resp, err := f.httpClient().Do(req)
	if err != nil {
		return nil, 0, explainNet(shown, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return resp.Body, 0, nil
	case resp.StatusCode == http.StatusPartialContent && awswire.RangeStart(resp.Header.Get("Content-Range")) == offset:
		return resp.Body, offset, nil
	}
	resp.Body.Close()
	status := fmt.Errorf("GET %s: %s", shown, resp.Status)
	switch c := resp.StatusCode; {
	case c == http.StatusNotFound:
		return nil, 0, fmt.Errorf("GET %s: %w (404)", shown, ErrNotFound)
	case c == http.StatusRequestedRangeNotSatisfiable, c == http.StatusPartialContent:
		// The part file is not a prefix of what the server has: start over.
		return nil, 0, errRestart{status}
	case c >= 500, c == http.StatusTooManyRequests, c == http.StatusRequestTimeout:
		return nil, 0, status
	}
	return nil, 0, permanent(status)
}

// errRestart is a retryable error after which the next attempt starts at 0.
type errRestart struct{ error }

func (e errRestart) Unwrap() error { return e.error }

// explainNet turns the transport's errors into what an admin can act on.
func explainNet(rawURL string, err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("GET %s: no answer in time (is the node air-gapped or the source down? set enroot.source to a reachable mirror): %w", rawURL, err)
	}
	return fmt.Errorf("GET %s: %w", rawURL, err)
}

func openFile(path string, offset int64) (io.ReadCloser, int64, error) {
	file, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	if err != nil {
		return nil, 0, permanent(err)
	}
	if _, err := file.Seek(offset, io.SeekStart); err != nil {
		file.Close()
		return nil, 0, permanent(err)
	}
	return file, offset, nil
}

// S3Opener opens an S3 object at offset: the body, the offset it really
// starts at (0 when the store ignored the range), or an error sorted as the
// fetcher retries it (ErrNotFound, permanent, restart, retryable). The real
// one is S3Helper.
type S3Opener interface {
	OpenS3(ctx context.Context, u *url.URL, offset int64, t Timeouts) (io.ReadCloser, int64, error)
}

// S3Helper reads S3 through the AWS helper (package awsproc), which holds
// the SDK: credentials from the instance role, the region from the
// environment or IMDS, AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) for a
// private S3-compatible mirror, addressed by path. The fetcher's own
// retries and timeouts apply: the helper makes one attempt, with the
// connect and response-header timeouts, and the stall watch ends it.
type S3Helper struct{ Helper awsproc.Helper }

// OpenS3 runs one GetObject in a helper and streams the object from it.
func (h S3Helper) OpenS3(ctx context.Context, u *url.URL, offset int64, t Timeouts) (io.ReadCloser, int64, error) {
	where := u.String()
	ans, body, err := h.Helper.Open(ctx, awswire.Request{
		Op: awswire.OpS3Get, Bucket: u.Host, Key: strings.TrimPrefix(u.Path, "/"), Offset: offset, URL: where,
		ConnectTimeout: t.Connect, HeaderTimeout: t.Header,
	})
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", where, err)
	}
	if ans.Error == "" {
		return body, ans.Start, nil
	}
	failed := errors.New(ans.Error)
	switch ans.Class {
	case awswire.ClassNotFound:
		return nil, 0, fmt.Errorf("%s: %w", where, ErrNotFound)
	case awswire.ClassDenied, awswire.ClassPermanent:
		return nil, 0, permanent(failed)
	case awswire.ClassRestart:
		return nil, 0, errRestart{failed}
	}
	return nil, 0, failed
}

func (f *Fetcher) openS3(ctx context.Context, u *url.URL, offset int64) (io.ReadCloser, int64, error) {
	return f.S3.OpenS3(ctx, u, offset, f.Timeouts)
}
