package aws

import (
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"time"
)

// SecretStore emulates Secrets Manager's GetSecretValue and SSM's
// GetParameter (JSON 1.1) on one server, for the real SDK clients reached
// through AWS_ENDPOINT_URL_SECRETS_MANAGER and AWS_ENDPOINT_URL_SSM. Values
// are set, rotated and deleted by the test while it serves.
type SecretStore struct {
	URL    string
	srv    *http.Server
	mu     sync.Mutex
	values map[string]string // "secretsmanager:<id>" or "ssm:<name>" -> value
	reads  map[string]int
}

// StartSecretStore starts the emulator; Close stops it.
func StartSecretStore() (*SecretStore, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &SecretStore{URL: "http://" + ln.Addr().String(), values: map[string]string{}, reads: map[string]int{}}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// Set stores value under source ("secretsmanager:<id>" or "ssm:<name>").
func (s *SecretStore) Set(source, value string) { s.mu.Lock(); s.values[source] = value; s.mu.Unlock() }

// Delete removes the secret, as deleting it in the store would.
func (s *SecretStore) Delete(source string) { s.mu.Lock(); delete(s.values, source); s.mu.Unlock() }

// Reads counts the reads of source.
func (s *SecretStore) Reads(source string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads[source]
}

func (s *SecretStore) serve(w http.ResponseWriter, r *http.Request) {
	_, _, service, ok := signedScope(r.Header.Get("Authorization"))
	var req struct {
		SecretId       string
		Name           string
		WithDecryption bool
	}
	if !ok || json.NewDecoder(r.Body).Decode(&req) != nil {
		awsError(w, 400, "MissingAuthenticationTokenException", "unsigned or malformed request")
		return
	}
	switch target := r.Header.Get("X-Amz-Target"); {
	case target == "secretsmanager.GetSecretValue" && service == "secretsmanager":
		if v, found := s.read("secretsmanager:" + req.SecretId); found {
			writeAWSJSON(w, map[string]any{"Name": req.SecretId, "SecretString": v, "VersionId": "v1"})
			return
		}
		awsError(w, 400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
	case target == "AmazonSSM.GetParameter" && service == "ssm":
		v, found := s.read("ssm:" + req.Name)
		switch {
		case !found:
			awsError(w, 400, "ParameterNotFound", "")
		case !req.WithDecryption:
			writeAWSJSON(w, map[string]any{"Parameter": map[string]any{"Name": req.Name, "Type": "SecureString", "Value": "AQICAHencrypted"}})
		default:
			writeAWSJSON(w, map[string]any{"Parameter": map[string]any{"Name": req.Name, "Type": "SecureString", "Value": v, "Version": 1}})
		}
	default:
		awsError(w, 400, "UnknownOperationException", "only GetSecretValue and GetParameter are emulated")
	}
}

func (s *SecretStore) read(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads[key]++
	v, ok := s.values[key]
	return v, ok
}

func writeAWSJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(v)
}

// Close stops the emulator.
func (s *SecretStore) Close() { _ = s.srv.Close() }
