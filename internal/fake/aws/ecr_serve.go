package aws

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

func (e *ECR) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("X-Amz-Target") != ecrTarget {
		awsError(w, 400, "UnknownOperationException", "only POST / GetAuthorizationToken is emulated")
		return
	}
	region, key, ok := sigV4Scope(r.Header.Get("Authorization"))
	if !ok {
		awsError(w, 403, "MissingAuthenticationTokenException", "missing SigV4 Authorization header")
		return
	}
	id := r.Header.Get("Amz-Sdk-Invocation-Id")
	e.inv.attempt(id)
	e.mu.Lock()
	e.calls[region]++
	if e.AccessKey != "" && key != e.AccessKey {
		e.mu.Unlock()
		awsError(w, 403, "UnrecognizedClientException", "the security token included in the request is invalid")
		return
	}
	switch {
	case e.hang:
		e.mu.Unlock()
		<-r.Context().Done()
		return
	case e.throttle > 0 || e.overRate() || e.bucket != nil && !e.bucket.take(time.Now()):
		e.throttle = max(e.throttle-1, 0)
		e.mu.Unlock()
		awsError(w, 400, "ThrottlingException", "Rate exceeded")
		return
	case e.fail > 0:
		e.fail--
		e.mu.Unlock()
		awsError(w, 500, "ServerException", "internal failure")
		return
	}
	pw := e.password
	if p, ok := e.byKey[key]; ok {
		pw = p
	}
	if pw == "" {
		pw = randomToken()
	}
	e.issued = append(e.issued, pw)
	exp := time.Now().Add(e.life)
	e.mu.Unlock()
	e.inv.ok(id, time.Now())
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(map[string]any{"authorizationData": []map[string]any{{
		"authorizationToken": base64.StdEncoding.EncodeToString([]byte("AWS:" + pw)),
		"expiresAt":          float64(exp.UnixMilli()) / 1000,
		"proxyEndpoint":      fmt.Sprintf("https://%s.dkr.ecr.%s.amazonaws.com", "000000000000", region),
	}}})
}

// overRate counts the call against this second's quota; callers hold e.mu.
func (e *ECR) overRate() bool {
	if e.rate == 0 {
		return false
	}
	if now := time.Now().Unix(); now != e.second {
		e.second, e.rateUsed = now, 0
	}
	e.rateUsed++
	return e.rateUsed > e.rate
}

func awsError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

// randomToken is short enough for bcrypt (72 bytes), which the test
// registry's htpasswd uses; real ECR passwords are much longer.
func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "ecrtok" + hex.EncodeToString(b)
}
