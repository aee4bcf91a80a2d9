package testenv

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Registry is Debian's real docker-registry (distribution 2.8) on 127.0.0.1
// with TLS from a test CA, HTTP/2 off (enroot cannot read HTTP/2 auth
// headers) and htpasswd bcrypt basic auth for user AWS, whose password plays
// the ECR token.
type Registry struct {
	Addr   string // 127.0.0.1:<port>
	Port   string
	CAFile string // PEM of the CA that signed the server certificate
	dir    string
	cmd    *exec.Cmd
	logs   *os.File
}

// RegistryBinary is where Debian's docker-registry package puts the server.
const RegistryBinary = "/usr/bin/docker-registry"

// NewRegistry starts the registry in dir. names are DNS names the server
// certificate covers besides 127.0.0.1, so a client can reach it under a
// production host name mapped to 127.0.0.1 (curl --resolve).
func NewRegistry(dir string, names []string, password string) (*Registry, error) {
	for bin, pkg := range map[string]string{RegistryBinary: "docker-registry", "htpasswd": "apache2-utils"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("%s not found: install the Debian package %s (scripts/test-deps.sh)", bin, pkg)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	r := &Registry{Addr: addr, Port: port, dir: dir, CAFile: filepath.Join(dir, "ca.pem")}
	if err := writeCerts(dir, names); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(registryConfig(dir, addr)), 0o600); err != nil {
		return nil, err
	}
	if err := r.SetPassword(password); err != nil {
		return nil, err
	}
	return r, nil
}

// StartRegistry is NewRegistry for tests, stopped at cleanup.
func StartRegistry(t testing.TB, names []string, password string) *Registry {
	t.Helper()
	r, err := NewRegistry(t.TempDir(), names, password)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func registryConfig(dir, addr string) string {
	return fmt.Sprintf(`version: 0.1
log: {level: info}
storage:
  filesystem: {rootdirectory: %[1]s/data}
  delete: {enabled: true}
http:
  addr: %[2]s
  tls: {certificate: %[1]s/server.pem, key: %[1]s/server-key.pem}
  http2: {disabled: true}
auth:
  htpasswd: {realm: ecr-test, path: %[1]s/htpasswd}
`, dir, addr)
}

// SetPassword makes password the only one user AWS can log in with, and
// restarts the registry: distribution 2.8 reads htpasswd once, at start.
func (r *Registry) SetPassword(password string) error {
	return r.SetLogins(map[string]string{"AWS": password})
}

// SetLogins makes logins (login -> password) the only users the registry
// accepts, and restarts it: one registry then plays several hosts whose
// netrc lines carry other logins (NGC's $oauthtoken, a Docker Hub user).
func (r *Registry) SetLogins(logins map[string]string) error {
	var all []byte
	for login, password := range logins {
		out, err := exec.Command("htpasswd", "-Bbn", login, password).Output()
		if err != nil {
			return fmt.Errorf("htpasswd -B: %w", err)
		}
		all = append(all, bytes.TrimRight(out, "\n")...)
		all = append(all, '\n')
	}
	if err := os.WriteFile(filepath.Join(r.dir, "htpasswd"), all, 0o600); err != nil {
		return err
	}
	r.Close()
	return r.start()
}

func (r *Registry) start() error {
	logs, err := os.OpenFile(filepath.Join(r.dir, "registry.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(RegistryBinary, "serve", filepath.Join(r.dir, "config.yml"))
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // gone with a killed test
	if err := cmd.Start(); err != nil {
		logs.Close()
		return err
	}
	r.cmd, r.logs = cmd, logs
	return r.waitReady()
}

// waitReady polls /v2/ until the registry asks for credentials.
func (r *Registry) waitReady() error {
	client := &http.Client{Transport: r.Transport(), Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get("https://" + r.Addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(r.dir, "registry.log"))
	return fmt.Errorf("docker-registry on %s did not come up:\n%s", r.Addr, log)
}

// Transport trusts the test CA and dials the registry for any host name, so
// clients can use the production name the certificate covers. HTTP/1.1 only.
func (r *Registry) Transport() *http.Transport {
	pem, _ := os.ReadFile(r.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	var d net.Dialer
	return &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, r.Addr)
		},
	}
}

// Close stops the registry process this Registry started.
func (r *Registry) Close() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.logs.Close()
	r.cmd = nil
}

// writeCerts makes a CA and a server certificate for 127.0.0.1 and names.
func writeCerts(dir string, names []string) error {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "enroot-agent test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: append([]string{"localhost"}, names...),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	caCert, _ := x509.ParseCertificate(caDER)
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	files := map[string]*pem.Block{
		"ca.pem":         {Type: "CERTIFICATE", Bytes: caDER},
		"server.pem":     {Type: "CERTIFICATE", Bytes: leafDER},
		"server-key.pem": {Type: "EC PRIVATE KEY", Bytes: keyDER},
	}
	for name, block := range files {
		mode := os.FileMode(0o644)
		if strings.Contains(name, "key") {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), mode); err != nil {
			return err
		}
	}
	return nil
}
