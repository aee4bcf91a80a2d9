package aws

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// IMDS emulates the EC2 instance metadata service, IMDSv2 only: a session
// token from PUT /latest/api/token is required on every GET. It serves the
// instance identity document and instance-role credentials, reached through
// AWS_EC2_METADATA_SERVICE_ENDPOINT.
type IMDS struct {
	URL       string
	Account   string
	Region    string
	Role      string
	AccessKey string // the role's access key id, which the ECR emulator may require
	// InstanceID and PrivateIP are the instance's own identity (each node of
	// a cluster has its own emulator).
	InstanceID, PrivateIP string

	srv    *http.Server
	mu     sync.Mutex
	tokens map[string]bool
	// V1Refused counts GETs without a session token (IMDSv1), which fail.
	V1Refused int
}

// StartIMDS starts the emulator on 127.0.0.1 for account and region; Close
// stops it.
func StartIMDS(account, region string) (*IMDS, error) {
	return StartIMDSInstance(account, region, "i-0123456789abcdef0", "10.0.0.10")
}

// StartIMDSInstance is StartIMDS for one instance of many: its identity document
// names instanceID and privateIP.
func StartIMDSInstance(account, region, instanceID, privateIP string) (*IMDS, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	m := &IMDS{URL: "http://" + ln.Addr().String(), Account: account, Region: region, Role: "ParallelClusterComputeRole",
		AccessKey: "ASIAEMULATEDROLEKEY1", InstanceID: instanceID, PrivateIP: privateIP, tokens: map[string]bool{}}
	m.srv = &http.Server{Handler: http.HandlerFunc(m.serve), ReadHeaderTimeout: 10 * time.Second}
	go m.srv.Serve(ln)
	return m, nil
}

// Close stops the emulator.
func (m *IMDS) Close() { _ = m.srv.Close() }

func (m *IMDS) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/latest/api/token" {
		ttl := r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds")
		if r.Method != http.MethodPut || ttl == "" {
			http.Error(w, "token requires PUT with a TTL", http.StatusBadRequest)
			return
		}
		tok := randomToken()
		m.mu.Lock()
		m.tokens[tok] = true
		m.mu.Unlock()
		w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", ttl)
		w.Write([]byte(tok))
		return
	}
	m.mu.Lock()
	ok := m.tokens[r.Header.Get("X-Aws-Ec2-Metadata-Token")]
	if !ok {
		m.V1Refused++
	}
	m.mu.Unlock()
	if !ok {
		http.Error(w, "IMDSv2 session token required", http.StatusUnauthorized)
		return
	}
	creds := "/latest/meta-data/iam/security-credentials/"
	switch p := r.URL.Path; {
	case p == "/latest/dynamic/instance-identity/document":
		writeJSON(w, map[string]any{"accountId": m.Account, "region": m.Region, "availabilityZone": m.Region + "a",
			"instanceId": m.InstanceID, "instanceType": "p5.48xlarge", "architecture": "x86_64",
			"imageId": "ami-0123456789abcdef0", "privateIp": m.PrivateIP, "pendingTime": "2026-01-01T00:00:00Z", "version": "2017-09-30"})
	case p == "/latest/meta-data/placement/region":
		w.Write([]byte(m.Region))
	case p == "/latest/meta-data/instance-id":
		w.Write([]byte(m.InstanceID))
	case p == creds:
		w.Write([]byte(m.Role))
	case p == creds+m.Role:
		writeJSON(w, map[string]any{"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": m.AccessKey,
			"SecretAccessKey": "emulatedSecretAccessKey", "Token": "emulatedSessionToken",
			"LastUpdated": time.Now().UTC().Format(time.RFC3339), "Expiration": time.Now().Add(6 * time.Hour).UTC().Format(time.RFC3339)})
	default:
		// Anything else, such as the newer extended-credentials path, is
		// absent, as on older instances; the SDK falls back.
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// Env is the environment that points the real SDK at the emulators, and
// away from anything on the host (shared config files, env credentials).
func Env(imds *IMDS, ecr *ECR, dir string) []string {
	env := []string{
		"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + imds.URL,
		"AWS_ENDPOINT_URL_ECR=" + ecr.URL,
		"AWS_CONFIG_FILE=" + dir + "/aws-config-none",
		"AWS_SHARED_CREDENTIALS_FILE=" + dir + "/aws-credentials-none",
	}
	return env
}

// CleanEnv is os.Environ without AWS_* variables, so a developer's own
// credentials or region never reach a test.
func CleanEnv(environ []string) []string {
	var out []string
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "AWS_") {
			out = append(out, kv)
		}
	}
	return out
}
