package awssdk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/enroot-agent/enroot-agent/internal/awswire"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// serve runs Serve on one request and returns what it wrote.
func serve(t *testing.T, req awswire.Request) *bytes.Buffer {
	t.Helper()
	var in, out bytes.Buffer
	if req.Version == 0 {
		req.Version = awswire.Version
	}
	if err := awswire.WriteRequest(&in, req); err != nil {
		t.Fatal(err)
	}
	_ = Serve(context.Background(), &in, &out)
	return &out
}

func answerOf(t *testing.T, req awswire.Request) awswire.Answer {
	t.Helper()
	a, err := awswire.ReadAnswer(serve(t, req))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestServeAnswersEachCall(t *testing.T) {
	_, ecr := awsEmulators(t)
	stores := testenv.StartSecretStore(t)
	t.Setenv("AWS_ENDPOINT_URL_SSM", stores.URL)
	stores.Set("ssm:/cluster/hub", "dckr_pat_1")
	ecr.SetPassword("nodetoken1")
	if a := answerOf(t, awswire.Request{Op: awswire.OpNodeRegistry}); a.Account != "210987654321" || a.Region != "eu-central-1" || a.Error != "" {
		t.Fatalf("node registry: %v", a)
	}
	a := answerOf(t, awswire.Request{Op: awswire.OpToken, Region: "eu-central-1"})
	if a.Password != "nodetoken1" || time.Until(a.ExpiresAt) < 11*time.Hour || a.Error != "" {
		t.Fatalf("token: %v", a)
	}
	if a := answerOf(t, awswire.Request{Op: awswire.OpSecret, Store: "ssm", ID: "/cluster/hub"}); a.Value != "dckr_pat_1" {
		t.Fatalf("secret: %v", a)
	}
	stores.Delete("ssm:/cluster/hub")
	if a := answerOf(t, awswire.Request{Op: awswire.OpSecret, Store: "ssm", ID: "/cluster/hub"}); !a.Withdrawn || a.Error != "ssm GetParameter: the secret no longer exists in its store" {
		t.Fatalf("withdrawn: %v", a)
	}
	// The caller's deadline bounds the call, which answers why.
	ecr.Hang(true)
	a = answerOf(t, awswire.Request{Op: awswire.OpToken, Region: "eu-central-1", Deadline: time.Now().Add(300 * time.Millisecond)})
	if !strings.HasPrefix(a.Error, "ecr GetAuthorizationToken in eu-central-1: ") || !strings.Contains(a.Error, "deadline exceeded") {
		t.Fatalf("hang: %v", a)
	}
}

func TestServeRefusesWhatItCannotAnswer(t *testing.T) {
	if a := answerOf(t, awswire.Request{Version: awswire.Version + 1, Op: awswire.OpToken}); !strings.Contains(a.Error, "restart enroot-agent") {
		t.Fatalf("another version: %v", a)
	}
	if a := answerOf(t, awswire.Request{Op: "ecr-sudo"}); !strings.Contains(a.Error, `the AWS helper has no call "ecr-sudo"`) {
		t.Fatalf("unknown op: %v", a)
	}
}

// An object streams from the offset the store honoured; a missing key, a
// range past the end and a refusal are sorted as the fetcher retries them.
func TestServeS3(t *testing.T) {
	s3 := testenv.StartS3Server(t)
	setEnv(t, s3.Env())
	s3.Put("mirror", "enroot/x.deb", []byte("0123456789"))
	get := func(key string, offset int64) (awswire.Answer, string, error) {
		out := serve(t, awswire.Request{Op: awswire.OpS3Get, Bucket: "mirror", Key: key, Offset: offset, URL: "s3://mirror/" + key,
			ConnectTimeout: 5 * time.Second, HeaderTimeout: 5 * time.Second})
		a, err := awswire.ReadAnswer(out)
		if err != nil || a.Error != "" {
			return a, "", err
		}
		body, err := io.ReadAll(awswire.NewBodyReader(out))
		return a, string(body), err
	}
	if a, body, err := get("enroot/x.deb", 0); err != nil || a.Start != 0 || body != "0123456789" {
		t.Fatalf("whole: %v %q %v", a, body, err)
	}
	if a, body, err := get("enroot/x.deb", 4); err != nil || a.Start != 4 || body != "456789" {
		t.Fatalf("from 4: %v %q %v", a, body, err)
	}
	if a, _, _ := get("enroot/nope.deb", 0); a.Class != awswire.ClassNotFound || a.Error != "s3://mirror/enroot/nope.deb" {
		t.Fatalf("missing: %v", a)
	}
	if a, _, _ := get("enroot/x.deb", 20); a.Class != awswire.ClassRestart || !strings.HasPrefix(a.Error, "s3://mirror/enroot/x.deb: ") {
		t.Fatalf("past the end: %v", a)
	}
}

func TestS3ErrorClasses(t *testing.T) {
	for status, want := range map[int]string{
		403: awswire.ClassDenied, 404: awswire.ClassNotFound, 416: awswire.ClassRestart, 400: awswire.ClassPermanent,
		429: "", 408: "", 500: "", 503: "",
	} {
		err := &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: errors.New("api error"),
		}}
		a := s3Error("s3://b/k", err)
		if a.Class != want {
			t.Errorf("%d: class %q, want %q", status, a.Class, want)
		}
		if status == 403 && !strings.Contains(a.Error, "the node's instance role needs s3:GetObject on it") {
			t.Errorf("403: %s", a.Error)
		}
	}
}
