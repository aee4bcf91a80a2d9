package registry

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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

// Binary is where Debian's docker-registry package puts the server.
const Binary = "/usr/bin/docker-registry"

// Start starts the registry in dir; Close stops it. names are DNS names the server
// certificate covers besides 127.0.0.1, so a client can reach it under a
// production host name mapped to 127.0.0.1 (curl --resolve).
func Start(dir string, names []string, password string) (*Registry, error) {
	for bin, pkg := range map[string]string{Binary: "docker-registry", "htpasswd": "apache2-utils"} {
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
