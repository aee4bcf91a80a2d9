// Package registries tests every registry kind the agent keeps credentials
// for through the real Enroot: a non-root user's `enroot digest` logs in to
// each host the agent wrote a line for, and a rotated secret reaches the
// user's enroot within one secrets refresh of the running daemon.
package registries

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
	"github.com/enroot-agent/enroot-agent/internal/realchain"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// TestEnrootLogsInToEveryKind runs on the real root with the real Enroot
// 4.1.2 that `apply` installs (realchain.Chain; realchain.Guard restores the
// machine). Each host of the acceptance config is played by Debian's
// docker-registry behind a CONNECT proxy that enroot.conf's https_proxy
// names, so the user's enroot reaches production host names.
func TestEnrootLogsInToEveryKind(t *testing.T) {
	c, err := realchain.Start(testenv.Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("the host is not restored: %v", err)
		}
	})
	s := startStands(t, c)
	listen := freeAddr(t)
	writeAcceptanceConfig(t, c, s, listen)
	var printed strings.Builder // everything the agent said
	out, errOut, code := c.Agent("apply")
	printed.WriteString(out + errOut)
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	if err := c.AddUser(); err != nil {
		t.Fatal(err)
	}
	var said strings.Builder // everything the user's enroot said
	hosts := append(append([]string{c.Host, roleHost, "public.ecr.aws", harbor}, ngcHosts...), hubHosts...)
	for _, h := range hosts {
		digestOK(t, c, h, s.digests[h], &said)
	}
	if c.Proxy.Tunnels() != 0 || s.proxy.Tunnels() < len(hosts) {
		t.Fatalf("enroot went through the chain's proxy %d times and the test's %d times, want 0 and at least %d",
			c.Proxy.Tunnels(), s.proxy.Tunnels(), len(hosts))
	}

	old, next := s.ngcKey, "nvapi-"+hex(20)
	d := startDaemon(t, c, s, listen)
	rotate(t, c, s, old, next, &said)

	printed.WriteString(d.String())
	for _, p := range []string{"/verify", "/metrics"} {
		printed.WriteString(httpGet(t, "http://"+listen+p))
	}
	if leaks(printed.String(), s.secrets(c, next)) {
		t.Fatal("a token, key or password appears in the agent's output, log, /verify or /metrics")
	}
	if leaks(said.String(), s.secrets(c, next)) {
		t.Fatal("a token, key or password appears in enroot's output")
	}
}

// rotate changes the NGC key at the registry (the user's enroot fails with
// the old one still in the file), then in Secrets Manager, and wants it in
// the file within one secrets.refresh_interval (1m, plus its tenth of
// jitter) and the user's enroot logging in with it.
func rotate(t *testing.T, c *realchain.Chain, s *stands, old, next string, said *strings.Builder) {
	if err := s.named.SetLogins(s.namedLogins(next)); err != nil {
		t.Fatal(err)
	}
	for _, h := range ngcHosts {
		stdout, stderr, err := enrootDigest(t, c, h)
		said.WriteString(stdout + stderr)
		if err == nil || strings.Contains(stdout, s.digests[h]) || !strings.Contains(stderr, "Authenticating with user: $oauthtoken") {
			t.Fatalf("%s with the old key, the registry wanting the new one: err %v, want a refused login\nstdout: %s\nstderr: %s", h, err, stdout, stderr)
		}
	}
	s.store.Set(ngcSrc, next)
	rotated := time.Now()
	want := "machine nvcr.io login $oauthtoken password " + next + "\n"
	if !fake.Eventually(66*time.Second+10*time.Second, func() bool { return strings.Contains(credentials(t), want) }) {
		t.Fatalf("the rotated NGC key is not in the credentials file %s after the rotation", time.Since(rotated).Round(time.Second))
	}
	if f := credentials(t); strings.Contains(f, old) || !strings.Contains(f, "machine authn.nvidia.com login $oauthtoken password "+next+"\n") {
		t.Fatal("after the rotation the file still holds the old NGC key, or lacks the new one for authn.nvidia.com")
	}
	t.Logf("the rotated NGC key reached the file %s after the rotation", time.Since(rotated).Round(time.Second))
	for _, h := range append(append([]string{}, ngcHosts...), "registry-1.docker.io", harbor) {
		digestOK(t, c, h, s.digests[h], said)
	}
}

// credentials reads the shared file every user's enroot reads.
func credentials(t *testing.T) string {
	b, err := os.ReadFile("/run/enroot-agent/enroot-config/.credentials")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// digestOK wants the user's `enroot digest` of host#ml/hello:v1 to print the
// digest pushed there, after logging in with the agent's line.
func digestOK(t *testing.T, c *realchain.Chain, host, want string, said *strings.Builder) {
	t.Helper()
	stdout, stderr, err := enrootDigest(t, c, host)
	said.WriteString(stdout + stderr)
	if err != nil || strings.TrimSpace(stdout) != want || !strings.Contains(stderr, "Authentication succeeded") {
		t.Fatalf("as user %s, enroot digest docker://%s#ml/hello:v1: %v\nstdout: %q (want %s)\nstderr: %s", c.User, host, err, stdout, want, stderr)
	}
}

// enrootDigest runs the real enroot as the non-root user, with a login-like
// environment of their own: everything else comes from /etc/enroot/enroot.conf.
func enrootDigest(t *testing.T, c *realchain.Chain, host string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	home := filepath.Join(c.Dir, "home-"+c.User)
	cmd := exec.CommandContext(ctx, "runuser", "-u", c.User, "--", "env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME="+home, "USER="+c.User, "LOGNAME="+c.User, "enroot", "digest", "docker://"+host+"#ml/hello:v1")
	cmd.Dir = home
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func hex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}
