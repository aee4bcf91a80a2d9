package images

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// newTransport reaches registries the way the node's enroot does: through
// the proxy and with the CA file that enroot.conf names (the agent's
// enroot.conf keys), else the daemon's own environment. It never speaks
// plain HTTP to a registry that is not on this machine, unless enroot.conf
// allows it (ENROOT_ALLOW_HTTP), as enroot itself would.
func newTransport(conf map[string]string) (http.RoundTripper, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if f := conf["SSL_CERT_FILE"]; f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("enroot.conf SSL_CERT_FILE: %w", err)
		}
		pool.AppendCertsFromPEM(pem)
	}
	proxy, err := proxyFunc(conf)
	if err != nil {
		return nil, err
	}
	t := &http.Transport{
		Proxy:                 proxy,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   8,
		ForceAttemptHTTP2:     true,
	}
	return httpsOnly{base: t, allowHTTP: conf["ENROOT_ALLOW_HTTP"] != ""}, nil
}

// proxyFunc is enroot.conf's https_proxy/http_proxy/no_proxy when set,
// else the environment's.
func proxyFunc(conf map[string]string) (func(*http.Request) (*url.URL, error), error) {
	hp, p := conf["https_proxy"], conf["http_proxy"]
	if hp == "" && p == "" {
		return http.ProxyFromEnvironment, nil
	}
	parse := func(s string) (*url.URL, error) {
		if s == "" {
			return nil, nil
		}
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("enroot.conf proxy %q is not a URL", s)
		}
		return u, nil
	}
	hu, err := parse(hp)
	if err != nil {
		return nil, err
	}
	pu, err := parse(p)
	if err != nil {
		return nil, err
	}
	no := strings.Split(conf["no_proxy"], ",")
	return func(req *http.Request) (*url.URL, error) {
		if loopback(req.URL.Hostname()) || noProxy(req.URL.Hostname(), no) {
			return nil, nil
		}
		if req.URL.Scheme == "https" {
			return hu, nil
		}
		return pu, nil
	}, nil
}

func noProxy(host string, list []string) bool {
	for _, n := range list {
		n = strings.TrimPrefix(strings.TrimSpace(n), ".")
		if n == "*" || n != "" && (host == n || strings.HasSuffix(host, "."+n)) {
			return true
		}
	}
	return false
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// httpsOnly turns go-containerregistry's plain HTTP for private addresses
// (10/8, *.local) back into HTTPS: enroot speaks HTTPS to them, and the
// agent's credentials must not cross a network in clear.
type httpsOnly struct {
	base      http.RoundTripper
	allowHTTP bool
}

func (h httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !h.allowHTTP && !loopback(req.URL.Hostname()) {
		req = req.Clone(req.Context())
		req.URL.Scheme = "https"
	}
	return h.base.RoundTrip(req)
}

// blobReader passes a blob through, hashing it, and fails the read that
// shows the bytes are not the blob: one past its size, or a short or
// different body at the end. Its consumer (the import's front) then aborts
// the transfer, so enroot never gets a complete wrong blob.
type blobReader struct {
	rc   io.ReadCloser
	want v1.Descriptor
	n    int64
	h    hashWriter
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

func newBlobReader(rc io.ReadCloser, b v1.Descriptor) *blobReader {
	return &blobReader{rc: rc, want: b, h: sha256.New()}
}

func (b *blobReader) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	_, _ = b.h.Write(p[:n])
	if b.n > b.want.Size {
		return n, fmt.Errorf("blob %s is longer than its %d bytes", b.want.Digest, b.want.Size)
	}
	if err == io.EOF {
		if got := hex.EncodeToString(b.h.Sum(nil)); b.n != b.want.Size || got != b.want.Digest.Hex {
			return n, fmt.Errorf("blob %s: got %d bytes with sha256 %s, want %d bytes: the registry sent something else", b.want.Digest, b.n, got, b.want.Size)
		}
	}
	return n, err
}

func (b *blobReader) Close() error { return b.rc.Close() }
