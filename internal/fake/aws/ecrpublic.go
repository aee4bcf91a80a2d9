package aws

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"time"
)

// ECRPublic emulates the ecr-public GetAuthorizationToken (JSON 1.1,
// SpencerFrontendService), reached by the real SDK through
// AWS_ENDPOINT_URL_ECR_PUBLIC. Like the real service it answers only
// calls signed for us-east-1.
type ECRPublic struct {
	URL      string
	srv      *http.Server
	mu       sync.Mutex
	password string
	calls    int
}

// StartECRPublic starts the emulator; Close stops it; every token
// carries password.
func StartECRPublic(password string) (*ECRPublic, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := &ECRPublic{URL: "http://" + ln.Addr().String(), password: password}
	e.srv = &http.Server{Handler: http.HandlerFunc(e.serve), ReadHeaderTimeout: 10 * time.Second}
	go e.srv.Serve(ln)
	return e, nil
}

// SetPassword changes the password of the next tokens.
func (e *ECRPublic) SetPassword(p string) { e.mu.Lock(); e.password = p; e.mu.Unlock() }

// Calls counts the tokens handed out.
func (e *ECRPublic) Calls() int { e.mu.Lock(); defer e.mu.Unlock(); return e.calls }

func (e *ECRPublic) serve(w http.ResponseWriter, r *http.Request) {
	_, region, service, ok := signedScope(r.Header.Get("Authorization"))
	switch {
	case r.Header.Get("X-Amz-Target") != "SpencerFrontendService.GetAuthorizationToken":
		awsError(w, 400, "UnknownOperationException", "only GetAuthorizationToken is emulated")
		return
	case !ok || service != "ecr-public":
		awsError(w, 403, "MissingAuthenticationTokenException", "missing SigV4 signature for ecr-public")
		return
	case region != "us-east-1":
		awsError(w, 400, "UnsupportedCommandException", "ecr-public GetAuthorizationToken exists only in us-east-1")
		return
	}
	e.mu.Lock()
	e.calls++
	pw := e.password
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(map[string]any{"authorizationData": map[string]any{
		"authorizationToken": base64.StdEncoding.EncodeToString([]byte("AWS:" + pw)),
		"expiresAt":          float64(time.Now().Add(12*time.Hour).UnixMilli()) / 1000,
	}})
}

// Close stops the emulator.
func (e *ECRPublic) Close() { _ = e.srv.Close() }
