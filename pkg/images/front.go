package images

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// front is the registry the daemon's enroot import talks to: a loopback
// HTTP server that lives for one import and knows one image. It answers the
// manifest request with the bytes the daemon verified (never what the
// registry says now: a hostile registry could answer enroot differently from
// the daemon), and streams each blob that manifest names from the registry,
// checking its sha256 as it goes and cutting the transfer when it is wrong.
// Nothing else is served. It asks for a password that only this import's
// credentials file holds (Basic, which enroot speaks), so another local user
// who finds the port gets nothing.
type front struct {
	v     *Verified
	reg   *Registry
	login string
	pass  string
	srv   *http.Server
	addr  string
	sent  atomic.Int64 // blob bytes sent to enroot: the import's progress
	blobs map[string]v1.Descriptor
}

const frontLogin = "enroot-agent"

// startFront serves v on 127.0.0.1 until close.
func startFront(ctx context.Context, reg *Registry, v *Verified) (*front, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	f := &front{v: v, reg: reg, login: frontLogin, pass: hex.EncodeToString(b), addr: ln.Addr().String(),
		blobs: map[string]v1.Descriptor{}}
	for _, d := range v.Blobs() {
		f.blobs[d.Digest.String()] = d
	}
	f.srv = &http.Server{
		Handler:           http.HandlerFunc(f.serve),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	go func() { _ = f.srv.Serve(ln) }()
	return f, nil
}

// ref is what enroot imports: this front's one image at its digest.
func (f *front) ref() string {
	return "docker://" + f.addr + "#" + f.v.Image.Path() + "@" + string(f.v.Digest)
}

// netrc is the line enroot's credentials file needs for the front.
func (f *front) netrc() string {
	host, _, _ := net.SplitHostPort(f.addr)
	return "machine " + host + " login " + f.login + " password " + f.pass + "\n"
}

func (f *front) close() { _ = f.srv.Close() }

func (f *front) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !f.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="enroot-agent"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	prefix := "/v2/" + f.v.Image.Path() + "/"
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	switch {
	case r.URL.Path == "/v2/" || r.URL.Path == "/v2":
		w.WriteHeader(http.StatusOK)
	case ok && rest == "manifests/"+string(f.v.Digest):
		f.manifest(w, r)
	case ok && strings.HasPrefix(rest, "blobs/"):
		f.blob(w, r, strings.TrimPrefix(rest, "blobs/"))
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

func (f *front) authorized(r *http.Request) bool {
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(f.login+":"+f.pass))
	return subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(want)) == 1
}

// manifest answers with the verified bytes whatever the Accept header: the
// daemon chose the platform already.
func (f *front) manifest(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", string(f.v.MediaType))
	w.Header().Set("Docker-Content-Digest", string(f.v.Digest))
	w.Header().Set("Content-Length", strconv.Itoa(len(f.v.Manifest)))
	if r.Method == http.MethodGet {
		_, _ = w.Write(f.v.Manifest)
	}
}

// blob streams a blob the manifest names. A wrong blob is noticed at the
// latest at its end, before the last byte is sent: the connection is then
// cut, so the transfer is short of its Content-Length and curl fails.
func (f *front) blob(w http.ResponseWriter, r *http.Request, digest string) {
	d, ok := f.blobs[digest]
	if !ok {
		http.Error(w, "not a blob of this image", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("Content-Length", strconv.FormatInt(d.Size, 10))
	if r.Method == http.MethodHead {
		return
	}
	rc, err := f.reg.Blob(r.Context(), f.v, d)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer rc.Close()
	// Hold back the last byte until the whole blob is checked.
	buf := make([]byte, 256<<10)
	var last []byte
	for {
		n, err := rc.Read(buf)
		if n > 0 {
			if _, werr := w.Write(append(last, buf[:n-1]...)); werr != nil {
				return
			}
			f.sent.Add(int64(len(last) + n - 1))
			last = []byte{buf[n-1]}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			panic(http.ErrAbortHandler) // the registry sent something else: cut
		}
	}
	_, _ = w.Write(last)
	f.sent.Add(int64(len(last)))
}
