package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
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
