package probe

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/secret"
	"github.com/enroot-agent/enroot-agent/pkg/credentials/netrc"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

func tlsServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func hostOf(srv *httptest.Server) string { return strings.TrimPrefix(srv.URL, "https://") }

// A registry that answers with a Bearer challenge (ECR Public, NGC, Docker
// Hub) is logged in to by trading the netrc entry for a token at the realm;
// the registry then gets that token, never the entry.
func TestProbeBearerLogin(t *testing.T) {
	var mu sync.Mutex
	var gotScope, gotAuth, pulledWith string
	mux := http.NewServeMux()
	srv := tlsServer(t, mux)
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotScope = r.URL.Query().Get("scope")
		mu.Unlock()
		if u, p, ok := r.BasicAuth(); !ok || u != "$oauthtoken" || p != "ngckey" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"token":"bearer123"}`))
	})
	mux.HandleFunc("/v2/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotAuth = r.Header.Get("Authorization")
		mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://`+r.Host+`/token",service="registry"`)
		w.WriteHeader(http.StatusUnauthorized)
	})
	mux.HandleFunc("/v2/nvidia/cuda/manifests/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		pulledWith = r.Header.Get("Authorization")
		mu.Unlock()
		w.WriteHeader(http.StatusNotFound)
	})
	p := Prober{Transport: srv.Client().Transport}
	s := p.session(hostOf(srv), netrc.Entry{Login: "$oauthtoken", Password: secret.New("ngckey")})
	if err := s.login(context.Background(), "nvidia/cuda"); err != nil || gotScope != "repository:nvidia/cuda:pull" {
		t.Fatalf("bearer login: %v scope %q", err, gotScope)
	}
	if _, err := s.manifest(context.Background(), "nvidia/cuda", "12"); err == nil || pulledWith != "Bearer bearer123" {
		t.Fatalf("after login the registry got %q (%v), want the traded token", pulledWith, err)
	}
	s = p.session(hostOf(srv), netrc.Entry{Login: "$oauthtoken", Password: secret.New("wrong")})
	err := s.login(context.Background(), "")
	if err == nil || err.Error() != "the token endpoint "+hostOf(srv)+" answered 401 Unauthorized" || gotAuth != "" {
		t.Fatalf("refused bearer login: %v (the registry got %q)", err, gotAuth)
	}
}

// basicRegistry is a registry with Basic auth for AWS:tok whose one image
// ml/hello:v1 has its layer on another host (blob storage, as ECR's S3);
// storage reports the Authorization it got.
func basicRegistry(t *testing.T) (reg *httptest.Server, storageAuth func() []string) {
	var mu sync.Mutex
	var auths []string
	storage := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusPartialContent)
		w.Write([]byte("layer bytes"))
	}))
	mux := http.NewServeMux()
	reg = tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "AWS" || p != "tok" {
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	mux.HandleFunc("/v2/{$}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/v2/ml/hello/manifests/v1", func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept"), "application/vnd.oci.image.index.v1+json") {
			w.WriteHeader(http.StatusNotAcceptable)
			return
		}
		w.Write([]byte(`{"layers":[{"digest":"sha256:aa"}]}`))
	})
	mux.HandleFunc("/v2/ml/hello/blobs/sha256:aa", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, storage.URL+"/bucket/sha256:aa?X-Amz-Signature=sig", http.StatusTemporaryRedirect)
	})
	return reg, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), auths...) }
}

// Basic login is checked with the credentials, as enroot's curl would send
// them; each stage says what failed, and the registry's credentials never
// follow a redirect to blob storage, even one on the same host name.
func TestProbeBasicStages(t *testing.T) {
	reg, storageAuth := basicRegistry(t)
	p := Prober{Transport: reg.Client().Transport, LoginFix: "refresh"}
	host := hostOf(reg)
	good := netrc.Entry{Host: host, Login: "AWS", Password: secret.New("tok")}
	stages := p.Pull(context.Background(), host, good, "ml/hello", "v1")
	if res := Result(stages); res.Status != verify.OK || res.Message != "1 probe(s) passed: "+host+"#ml/hello:v1: login ok, manifest ok, layer ok" {
		t.Fatalf("good credentials: %+v", res)
	}
	if got := storageAuth(); len(got) != 1 || got[0] != "" {
		t.Fatalf("blob storage got Authorization %q, want none", got)
	}
	res := Result(p.Pull(context.Background(), host, good, "ml/none", "v1"))
	if res.Status != verify.Fail || !strings.HasSuffix(res.Message, "login ok, manifest: GET manifest ml/none:v1 answered 404 Not Found") ||
		!strings.Contains(res.Fix, "ecr:BatchGetImage") {
		t.Fatalf("missing image: %+v", res)
	}
	bad := good
	bad.Password = secret.New("expired")
	res = Result(p.Pull(context.Background(), host, bad, "ml/hello", "v1"))
	if res.Status != verify.Fail || !strings.HasSuffix(res.Message, "#ml/hello:v1: login: GET /v2/ with the credentials answered 401 Unauthorized") ||
		res.Fix != "refresh; "+refusedFix || strings.Contains(res.Message, "expired") {
		t.Fatalf("refused credentials: %+v", res)
	}
}

// go-containerregistry tries plain HTTP for a loopback registry when HTTPS
// fails; enroot would not, and neither does the probe: a plain-HTTP
// registry sees no request, and the error is the HTTPS one.
func TestProbeNeverSpeaksPlainHTTP(t *testing.T) {
	var mu sync.Mutex
	requests := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	stages := Prober{}.Pull(context.Background(), host, netrc.Entry{Host: host, Login: "AWS", Password: secret.New("tok")}, "", "")
	mu.Lock()
	defer mu.Unlock()
	if len(stages) != 1 || stages[0].Err == "" || strings.Contains(stages[0].Err, "plain HTTP") || requests != 0 {
		t.Fatalf("a plain-HTTP registry: %+v, %d requests over HTTP", stages, requests)
	}
}

// The daemon's record keeps the latest probe; a nil one keeps nothing.
func TestRecord(t *testing.T) {
	var none *Record
	none.Set([]Stage{{Name: "login"}})
	if none.Stages() != nil {
		t.Fatal("a nil record kept stages")
	}
	r := &Record{}
	in := []Stage{{Registry: "r", Name: "login"}}
	r.Set(in)
	in[0].Name = "changed"
	if got := r.Stages(); len(got) != 1 || got[0].Name != "login" {
		t.Fatalf("stages %+v", got)
	}
}
