package aws

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// ECR emulates Amazon ECR's GetAuthorizationToken over real HTTP (JSON 1.1),
// for the real aws-sdk-go-v2 client reached through AWS_ENDPOINT_URL_ECR.
// It can throttle, fail, hang and issue tokens with a chosen life.
type ECR struct {
	URL string

	srv *http.Server
	mu  sync.Mutex
	// Calls counts answered or refused calls, by the region the request was
	// signed for (from the SigV4 credential scope).
	calls    map[string]int
	throttle int // the next n calls answer ThrottlingException
	fail     int // the next n calls answer ServerException (500)
	hang     bool
	rate     int   // calls allowed per wall-clock second; 0 is unlimited
	second   int64 // the second rateUsed counts
	rateUsed int
	bucket   *bucket // Quota's token bucket; nil is unlimited
	inv      invocations
	password string            // issued as base64("AWS:<password>")
	byKey    map[string]string // access key id -> its own password (SetPasswordFor)
	life     time.Duration
	issued   []string
	// AccessKey, when set, is the only access key id accepted in the
	// signature: proof the SDK signed with the instance role's credentials.
	AccessKey string
}

// ecrTarget is the X-Amz-Target of the one operation emulated.
const ecrTarget = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"

// StartECR starts the emulator on 127.0.0.1; Close stops it.
func StartECR() (*ECR, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := &ECR{URL: "http://" + ln.Addr().String(), calls: map[string]int{}, life: 12 * time.Hour}
	e.srv = &http.Server{Handler: http.HandlerFunc(e.serve), ReadHeaderTimeout: 10 * time.Second}
	go e.srv.Serve(ln)
	return e, nil
}

// Close stops the emulator.
func (e *ECR) Close() { _ = e.srv.Close() }

// SetAccessKey changes AccessKey while the emulator is serving.
func (e *ECR) SetAccessKey(k string) { e.mu.Lock(); e.AccessKey = k; e.mu.Unlock() }

// SetPassword fixes the password the next tokens carry ("" means random).
func (e *ECR) SetPassword(p string) { e.mu.Lock(); e.password = p; e.mu.Unlock() }

// SetPasswordFor makes calls signed with accessKey get password, so a test
// tells an assumed role's token from the node's own.
func (e *ECR) SetPasswordFor(accessKey, password string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.byKey == nil {
		e.byKey = map[string]string{}
	}
	e.byKey[accessKey] = password
}

// SetLife sets how long issued tokens live.
func (e *ECR) SetLife(d time.Duration) { e.mu.Lock(); e.life = d; e.mu.Unlock() }

// Throttle makes the next n calls fail with ThrottlingException (HTTP 400).
func (e *ECR) Throttle(n int) { e.mu.Lock(); e.throttle = n; e.mu.Unlock() }

// Fail makes the next n calls fail with ServerException (HTTP 500).
func (e *ECR) Fail(n int) { e.mu.Lock(); e.fail = n; e.mu.Unlock() }

// RateLimit throttles calls beyond perSecond in any wall-clock second, as
// ECR's GetAuthorizationToken quota does when a whole cluster boots at once.
func (e *ECR) RateLimit(perSecond int) { e.mu.Lock(); e.rate = perSecond; e.mu.Unlock() }

// Hang makes calls block until the client gives up.
func (e *ECR) Hang(on bool) { e.mu.Lock(); e.hang = on; e.mu.Unlock() }

// Calls returns the number of calls signed for region ("" for all).
func (e *ECR) Calls(region string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if region != "" {
		return e.calls[region]
	}
	n := 0
	for _, c := range e.calls {
		n += c
	}
	return n
}

// Issued lists every password handed out, for leak scans.
func (e *ECR) Issued() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.issued...)
}
