package images

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/fake/aws"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/imageref"
)

// ecrHost is the name the TLS registry plays, reached on port 443.
const ecrHost = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

// ecrLike is a registry reached as ECR is from a node: Debian's real
// docker-registry over TLS with Basic auth (ECR takes its token as a Basic
// password), named by an ECR host on port 443 through a CONNECT proxy that
// enroot.conf's https_proxy names, its CA in SSL_CERT_FILE; the daemon's
// Registry with its own transport (newTransport) and the token in its netrc
// file.
type ecrLike struct {
	reg   *Registry
	conf  map[string]string
	proxy *aws.ConnectProxy
	im    imageref.Image
	d     imageref.Digest
}

func newECRLike(t testing.TB) *ecrLike {
	t.Helper()
	const token = "ecr-token-for-the-test"
	r := testenv.StartRegistry(t, []string{ecrHost}, token)
	d, err := r.PushImage(ecrHost+":"+r.Port+"/ml/hello:v1", token)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.StartConnectProxy(t, map[string]string{ecrHost: r.Addr})
	netrc := filepath.Join(t.TempDir(), ".credentials")
	if err := os.WriteFile(netrc, []byte("machine "+ecrHost+" login AWS password "+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &ecrLike{conf: map[string]string{"https_proxy": proxy.URL, "SSL_CERT_FILE": r.CAFile}, proxy: proxy, d: imageref.Digest(d)}
	if e.reg, err = e.registry(netrc); err != nil {
		t.Fatal(err)
	}
	if e.im, err = imageref.ParseURI("docker://" + ecrHost + "#ml/hello:v1"); err != nil {
		t.Fatal(err)
	}
	return e
}

// registry is a daemon's Registry, with a transport of its own.
func (e *ecrLike) registry(netrc string) (*Registry, error) {
	tr, err := newTransport(e.conf)
	return &Registry{Netrc: netrc, Transport: tr}, err
}

// Hits on a TLS registry through a proxy keep one connection: the TCP
// connection, the proxy's tunnel and the TLS handshake of the first check
// serve the next ones, and each check is one manifest request with the
// token of now (TestManifestChecksKeepTheHandshake counts the requests).
func TestHitsOnATLSRegistryKeepOneConnection(t *testing.T) {
	e := newECRLike(t)
	for i := range 5 {
		if _, err := e.reg.Verify(context.Background(), e.im, e.d); err != nil {
			t.Fatalf("check %d: %v", i, err)
		}
	}
	if n := e.proxy.Tunnels(); n != 1 {
		t.Fatalf("5 checks opened %d connections to the registry, want 1", n)
	}
}
