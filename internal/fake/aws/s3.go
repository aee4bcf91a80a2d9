package aws

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// S3Server is a small S3-compatible endpoint for GetObject with path-style
// addressing (http://host/bucket/key) and Range. The real aws-sdk-go-v2 client
// reaches it through AWS_ENDPOINT_URL_S3 (see Env). It insists on a SigV4
// Authorization header, as S3 does, but does not check the signature.
type S3Server struct {
	URL string

	srv      *httptest.Server
	mu       sync.Mutex
	objects  map[string][]byte // "bucket/key"
	requests int
	unsigned int
}

// StartS3Server starts the endpoint on 127.0.0.1; Close stops it.
func StartS3Server() (*S3Server, error) {
	s := &S3Server{objects: map[string][]byte{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s, nil
}

// Close stops the endpoint.
func (s *S3Server) Close() { s.srv.Close() }

// Put stores an object.
func (s *S3Server) Put(bucket, key string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[bucket+"/"+key] = data
}

// Requests counts every request, and how many came without a SigV4 signature.
func (s *S3Server) Requests() (total, unsigned int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.unsigned
}

// Env is the standard AWS settings that aim the real SDK at this endpoint
// with static test credentials, and keep it away from any real IMDS.
func (s *S3Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_S3=" + s.URL,
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIDTESTTESTTEST",
		"AWS_SECRET_ACCESS_KEY=testsecrettestsecret",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

func (s *S3Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	signed := strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ")
	if !signed {
		s.unsigned++
	}
	data, ok := s.objects[strings.TrimPrefix(r.URL.Path, "/")]
	s.mu.Unlock()
	switch {
	case !signed:
		s3Fail(w, http.StatusForbidden, "AccessDenied", "request is not signed")
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		s3Fail(w, http.StatusMethodNotAllowed, "MethodNotAllowed", r.Method)
	case !ok:
		s3Fail(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
	default:
		w.Header().Set("ETag", `"`+strconv.Itoa(len(data))+`"`)
		http.ServeContent(w, r, "", time.Unix(1700000000, 0), bytes.NewReader(data))
	}
}

func s3Fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>test</RequestId></Error>`, code, msg)
}

func itoa(n int) string { return strconv.Itoa(n) }
