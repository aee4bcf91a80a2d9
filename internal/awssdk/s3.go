package awssdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/enroot-agent/enroot-agent/internal/awswire"
)

// newS3Client builds the real S3 client from the node's standard AWS
// settings: credentials from the instance role, the region from the
// environment or IMDS. AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) points it at
// a private S3-compatible mirror; such mirrors address buckets by path, so
// path-style is used then. The agent's fetcher retries and times out the
// download, so the SDK's retryer is limited to one attempt.
func newS3Client(ctx context.Context, hc *http.Client) (*s3.Client, error) {
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

// s3HTTPClient keeps the environment's proxy settings and adds the agent's
// connect and response-header timeouts, as its own downloads have.
func s3HTTPClient(req awswire.Request) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if req.ConnectTimeout > 0 {
		tr.DialContext = (&net.Dialer{Timeout: req.ConnectTimeout}).DialContext
		tr.TLSHandshakeTimeout = req.ConnectTimeout
	}
	tr.ResponseHeaderTimeout = req.HeaderTimeout
	return &http.Client{Transport: tr}
}

// OpenS3 starts reading the object of an OpS3Get request at its offset. On
// success the answer holds the offset the body really starts at (0 when the
// store ignored the range); otherwise it holds the sorted failure.
func OpenS3(ctx context.Context, req awswire.Request) (io.ReadCloser, awswire.Answer) {
	where := req.URL
	if where == "" {
		where = "s3://" + req.Bucket + "/" + req.Key
	}
	client, err := newS3Client(ctx, s3HTTPClient(req))
	if err != nil {
		return nil, awswire.Answer{Error: err.Error(), Class: awswire.ClassPermanent}
	}
	in := &s3.GetObjectInput{Bucket: aws.String(req.Bucket), Key: aws.String(req.Key)}
	if req.Offset > 0 {
		in.Range = aws.String("bytes=" + strconv.FormatInt(req.Offset, 10) + "-")
	}
	out, err := client.GetObject(ctx, in)
	if err != nil {
		return nil, s3Error(where, err)
	}
	start := int64(0)
	if req.Offset > 0 && out.ContentRange != nil && awswire.RangeStart(*out.ContentRange) == req.Offset {
		start = req.Offset
	}
	return out.Body, awswire.Answer{Start: start}
}

// s3Error sorts S3 failures: a missing key is not found, a refusal is
// permanent and names what to fix, anything else may pass on a retry.
func s3Error(where string, err error) awswire.Answer {
	var nsk *types.NoSuchKey
	var re *awshttp.ResponseError
	status := 0
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	switch {
	case errors.As(err, &nsk) || status == http.StatusNotFound:
		return awswire.Answer{Class: awswire.ClassNotFound, Error: where}
	case status == http.StatusForbidden:
		return awswire.Answer{Class: awswire.ClassDenied, Error: fmt.Sprintf("%s: access denied: the node's instance role needs s3:GetObject on it: %v", where, err)}
	case status == http.StatusRequestedRangeNotSatisfiable:
		return awswire.Answer{Class: awswire.ClassRestart, Error: fmt.Sprintf("%s: %v", where, err)}
	case status >= 400 && status < 500 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout:
		return awswire.Answer{Class: awswire.ClassPermanent, Error: fmt.Sprintf("%s: %v", where, err)}
	}
	return awswire.Answer{Error: fmt.Sprintf("%s: %v", where, err)}
}
