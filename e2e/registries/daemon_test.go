package registries

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
	"github.com/enroot-agent/enroot-agent/internal/realchain"
)

// writeAcceptanceConfig turns the chain's config into the acceptance config:
// the README's registries (the node's account, another account through a
// role, ECR Public, NGC from Secrets Manager, Docker Hub and a generic
// Harbor from SSM), secrets
// read every minute, enroot's curl sent to the test's proxy and trusting
// every test registry's CA. A template the chain changed fails here.
func writeAcceptanceConfig(t *testing.T, c *realchain.Chain, s *stands, listen string) {
	b, err := os.ReadFile(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	yaml := string(b)
	ca := filepath.Join(c.Dir, "registry-ca.pem")
	replace := map[string]string{
		"https_proxy: " + c.Proxy.URL + "\n":     "https_proxy: " + s.proxy.URL + "\n",
		"ecr:\n  registries: [" + c.Host + "]\n": acceptance(c.Host, listen),
	}
	for old, repl := range replace {
		if strings.Count(yaml, old) != 1 {
			t.Fatalf("the chain's config %s does not hold %q once:\n%s", c.Config, old, yaml)
		}
		yaml = strings.Replace(yaml, old, repl, 1)
	}
	if !strings.Contains(yaml, "SSL_CERT_FILE: "+ca+"\n") {
		t.Fatalf("the chain's config does not point SSL_CERT_FILE at %s:\n%s", ca, yaml)
	}
	s.caBundle(t, c, ca)
	if err := os.WriteFile(c.Config, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
}

func acceptance(nodeHost, listen string) string {
	return `ecr:
  registries:
    - ` + nodeHost + `
    - {host: ` + roleHost + `, role_arn: "` + roleARN + `"}
  public: true
secrets:
  refresh_interval: 1m
  registries:
    - {name: ngc, kind: ngc, source: "` + ngcSrc + `"}
    - {name: hub, kind: dockerhub, login: ` + hubLogin + `, source: "` + hubSrc + `"}
    - {name: harbor, kind: generic, login: ` + robot + `, hosts: [` + harbor + `], source: "` + robotSrc + `"}
verify:
  listen: ` + listen + `
`
}

// daemon is `enroot-agent run` with the chain's config and environment.
type daemon struct {
	mu  sync.Mutex
	log strings.Builder
}

func (d *daemon) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.Write(p)
}
func (d *daemon) String() string { d.mu.Lock(); defer d.mu.Unlock(); return d.log.String() }

// startDaemon runs the daemon and waits for its first read of the secrets
// (the refresh it starts with); the next read is its schedule's.
func startDaemon(t *testing.T, c *realchain.Chain, s *stands, listen string) *daemon {
	reads := s.store.Reads(ngcSrc)
	d := &daemon{}
	cmd := exec.Command(c.Bin, "--config", c.Config, "--log-format", "console", "run")
	cmd.Env, cmd.Stdout, cmd.Stderr = c.Env, d, d
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if !fake.Eventually(2*time.Minute, func() bool { return s.store.Reads(ngcSrc) > reads && strings.Contains(d.String(), "secret read") }) {
		t.Fatalf("the daemon never read the NGC secret:\n%s", c.Redact(d.String()))
	}
	if !fake.Eventually(30*time.Second, func() bool { _, err := http.Get("http://" + listen + "/healthz"); return err == nil }) {
		t.Fatalf("the daemon does not answer on %s:\n%s", listen, c.Redact(d.String()))
	}
	return d
}

func httpGet(t *testing.T, url string) string {
	cl := &http.Client{Timeout: 30 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
