package aws

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// STS emulates AssumeRole (the query protocol, an XML answer) for the real
// SDK's stscreds provider, reached through AWS_ENDPOINT_URL_STS. Each role
// has its own access key id, so an emulator that checks signatures (ECR's
// SetPasswordFor) can tell whose credentials signed a call.
type STS struct {
	URL   string
	srv   *http.Server
	mu    sync.Mutex
	keys  map[string]string // role ARN -> access key id handed out
	calls map[string]int    // role ARN -> AssumeRole calls
}

// StartSTS starts the emulator; roles maps each role ARN it lets the
// caller assume to the access key id of that role's credentials.
func StartSTS(roles map[string]string) (*STS, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &STS{URL: "http://" + ln.Addr().String(), keys: roles, calls: map[string]int{}}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// Calls counts AssumeRole calls for role.
func (s *STS) Calls(role string) int { s.mu.Lock(); defer s.mu.Unlock(); return s.calls[role] }

func (s *STS) serve(w http.ResponseWriter, r *http.Request) {
	_, _, service, ok := signedScope(r.Header.Get("Authorization"))
	if err := r.ParseForm(); err != nil || r.PostForm.Get("Action") != "AssumeRole" || !ok || service != "sts" {
		stsError(w, 400, "InvalidAction", "only a signed AssumeRole is emulated")
		return
	}
	role := r.PostForm.Get("RoleArn")
	s.mu.Lock()
	key, allowed := s.keys[role]
	s.calls[role]++
	s.mu.Unlock()
	if !allowed {
		stsError(w, 403, "AccessDenied", "not authorized to perform sts:AssumeRole on "+role)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>secret-%[1]s</SecretAccessKey><SessionToken>session-%[1]s</SessionToken><Expiration>%s</Expiration></Credentials>
<AssumedRoleUser><Arn>%s/%s</Arn><AssumedRoleId>AROA:%[4]s</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>`,
		key, time.Now().Add(time.Hour).UTC().Format(time.RFC3339), role, r.PostForm.Get("RoleSessionName"))
}

func stsError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(code)
	fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>1</RequestId></ErrorResponse>`, typ, msg)
}

// Close stops the emulator.
func (s *STS) Close() { _ = s.srv.Close() }
