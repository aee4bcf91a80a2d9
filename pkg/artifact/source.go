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

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
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
	case resp.StatusCode == http.StatusPartialContent && rangeStart(resp.Header.Get("Content-Range")) == offset:
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

func rangeStart(cr string) int64 {
	// "bytes 100-199/200"
	s, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return -1
	}
	s, _, _ = strings.Cut(s, "-")
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

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

// S3API is the one S3 call the fetcher makes; *s3.Client implements it.
type S3API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// NewS3Client builds the real S3 client from the node's standard AWS
// settings: credentials from the instance role, the region from the
// environment or IMDS. AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) points it at
// a private S3-compatible mirror; such mirrors address buckets by path, so
// path-style is used then. The fetcher's own retries and timeouts apply, so
// the SDK's retryer is limited to one attempt.
func NewS3Client(ctx context.Context, hc *http.Client) (S3API, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithEC2IMDSRegion())
	if err != nil {
		return nil, fmt.Errorf("load AWS config for s3://: %w", err)
	}
	custom := os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.HTTPClient = hc
		o.RetryMaxAttempts = 1
		o.UsePathStyle = o.UsePathStyle || custom
	}), nil
}

func (f *Fetcher) openS3(ctx context.Context, u *url.URL, offset int64) (io.ReadCloser, int64, error) {
	if f.s3 == nil {
		c, err := f.S3(ctx, f.httpClient())
		if err != nil {
			return nil, 0, err
		}
		f.s3 = c
	}
	bucket, key := u.Host, strings.TrimPrefix(u.Path, "/")
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if offset > 0 {
		in.Range = aws.String("bytes=" + strconv.FormatInt(offset, 10) + "-")
	}
	out, err := f.s3.GetObject(ctx, in)
	if err != nil {
		return nil, 0, s3Error(u.String(), err)
	}
	start := int64(0)
	if offset > 0 && out.ContentRange != nil && rangeStart(*out.ContentRange) == offset {
		start = offset
	}
	return out.Body, start, nil
}

// s3Error sorts S3 failures: a missing key is ErrNotFound, a refusal is
// permanent and names what to fix, anything else may pass on a retry.
func s3Error(where string, err error) error {
	var nsk *types.NoSuchKey
	var re *awshttp.ResponseError
	status := 0
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	switch {
	case errors.As(err, &nsk) || status == http.StatusNotFound:
		return fmt.Errorf("%s: %w", where, ErrNotFound)
	case status == http.StatusForbidden:
		return permanent(fmt.Errorf("%s: access denied: the node's instance role needs s3:GetObject on it: %w", where, err))
	case status == http.StatusRequestedRangeNotSatisfiable:
		return errRestart{fmt.Errorf("%s: %w", where, err)}
	case status >= 400 && status < 500 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout:
		return permanent(fmt.Errorf("%s: %w", where, err))
	}
	return fmt.Errorf("%s: %w", where, err)
}
