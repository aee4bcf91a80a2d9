package registry

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"regexp"
	"time"
)

// BlobRedirect stands in front of the test registry and answers blob GETs
// the way ECR does: a 307 to a presigned URL on a second server standing
// in for S3, which serves the blob (Range honoured). Everything else goes
// to the registry. Stopping the S3 stand-in reproduces a private subnet
// without an S3 gateway endpoint: login and manifests work, layers fail.
type BlobRedirect struct {
	Addr   string // the TLS front, with the registry's certificate
	S3Addr string // the plain-HTTP S3 stand-in
	front  *http.Server
	s3     *http.Server
	reg    *Registry
}

var blobPath = regexp.MustCompile(`^/v2/(.+)/blobs/(sha256:[0-9a-f]{64})$`)

// StartBlobRedirect starts both servers; Close stops them. password is the
// registry's, which the S3 stand-in uses to fetch the blob it serves.
func StartBlobRedirect(reg *Registry, password string) (*BlobRedirect, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(reg.dir, "server.pem"), filepath.Join(reg.dir, "server-key.pem"))
	if err != nil {
		return nil, err
	}
	fl, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		return nil, err
	}
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &BlobRedirect{Addr: fl.Addr().String(), S3Addr: sl.Addr().String(), reg: reg}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "https", Host: reg.Addr})
	proxy.Transport = reg.Transport()
	b.front = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m := blobPath.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodGet {
			http.Redirect(w, r, "http://"+b.S3Addr+"/prod-us-east-1-starport-layer-bucket/"+m[1]+"/"+m[2]+"?X-Amz-Signature=test", http.StatusTemporaryRedirect)
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	b.s3 = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: b.serveS3(password)}
	go b.front.Serve(fl)
	go b.s3.Serve(sl)
	return b, nil
}

// Close stops both servers.
func (b *BlobRedirect) Close() { _ = b.front.Close(); _ = b.s3.Close() }

// StopS3 takes the S3 stand-in away: connections to it are refused.
func (b *BlobRedirect) StopS3() { _ = b.s3.Close() }

var s3Path = regexp.MustCompile(`^/prod-us-east-1-starport-layer-bucket/(.+)/(sha256:[0-9a-f]{64})$`)

func (b *BlobRedirect) serveS3(password string) http.Handler {
	client := &http.Client{Transport: b.reg.Transport()}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := s3Path.FindStringSubmatch(r.URL.Path)
		if m == nil || r.Header.Get("Authorization") != "" {
			// S3 refuses a presigned URL that also carries registry auth.
			http.Error(w, "<Error><Code>InvalidArgument</Code></Error>", http.StatusBadRequest)
			return
		}
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "https://"+b.reg.Addr+"/v2/"+m[1]+"/blobs/"+m[2], nil)
		req.SetBasicAuth("AWS", password)
		req.Header.Set("Range", r.Header.Get("Range"))
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for _, h := range []string{"Content-Length", "Content-Range", "Content-Type"} {
			if v := resp.Header.Get(h); v != "" {
				w.Header().Set(h, v)
			}
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
}

// Transport trusts the test CA and sends every TLS host name to the front
// (as /etc/hosts would), while 127.0.0.1 addresses (the S3 stand-in) are
// dialled as they are.
func (b *BlobRedirect) Transport() *http.Transport {
	tr := b.reg.Transport()
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, _ := net.SplitHostPort(addr); net.ParseIP(host) == nil {
			addr = b.Addr
		}
		return d.DialContext(ctx, network, addr)
	}
	return tr
}
