package credentials

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/secret"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// The probe pulls through Debian's real docker-registry behind a front that
// redirects blobs to an S3 stand-in, as ECR does. With the stand-in
// stopped, login and manifest stay ok and layer fails naming S3.
func TestProbePullsALayerThroughS3(t *testing.T) {
	reg := testenv.StartRegistry(t, []string{vHost}, vTok)
	if _, err := reg.PushFileImage(reg.Addr+"/ml/hello:v1", vTok, map[string]string{"/etc/greeting": "hi\n"}); err != nil {
		t.Fatal(err)
	}
	front := testenv.StartBlobRedirect(t, reg, vTok)
	yaml := vYAML + "verify:\n  probe_registries: true\n  probe_images: [\"" + vHost + "#ml/hello:v1\"]\n"
	c := node(t, yaml, vLine, healthy(now.Add(11*time.Hour)))
	c.Client = &http.Client{Transport: front.Transport(), Timeout: 10 * time.Second}
	res := c.probe(context.Background())
	want := vHost + "#ml/hello:v1: login ok, manifest ok, layer ok"
	if res.Status != verify.OK || !strings.Contains(res.Message, want) {
		t.Fatalf("probe through a reachable S3: %+v", res)
	}
	front.StopS3()
	res = c.probe(context.Background())
	msg := vHost + "#ml/hello:v1: login ok, manifest ok, layer: S3 unreachable (redirected to " + front.S3Addr + "):"
	if res.Status != verify.Fail || !strings.Contains(res.Message, msg) || !strings.Contains(res.Message, "connection refused") {
		t.Fatalf("probe with S3 stopped: %+v", res)
	}
	if !strings.Contains(res.Fix, "S3 gateway endpoint") || strings.Contains(res.Message+res.Fix, vTok) {
		t.Fatalf("fix %q", res.Fix)
	}
	stages := LastProbe()
	if len(stages) != 3 || stages[2].Name != "layer" || stages[2].Err == "" || stages[0].Err != "" || stages[1].Err != "" {
		t.Fatalf("recorded stages %+v", stages)
	}
}

// A registry that answers with a Bearer challenge (ECR Public, NGC, Docker
// Hub) is logged in to by trading the netrc entry for a token at the realm.
func TestProbeBearerLogin(t *testing.T) {
	var gotScope, gotAuth string
	mux := http.NewServeMux()
	srv := testenvTLS(t, mux)
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		gotScope = r.URL.Query().Get("scope")
		if u, p, ok := r.BasicAuth(); !ok || u != "$oauthtoken" || p != "ngckey" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"token":"bearer123"}`))
	})
	mux.HandleFunc("/v2/", func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://`+r.Host+`/token",service="registry"`)
		w.WriteHeader(http.StatusUnauthorized)
	})
	p := &pull{client: srv.Client(), host: strings.TrimPrefix(srv.URL, "https://"), entry: Entry{Login: "$oauthtoken", Password: secretOf("ngckey")}}
	if err := p.login(context.Background(), "nvidia/cuda"); err != nil || p.auth != "Bearer bearer123" || gotScope != "repository:nvidia/cuda:pull" {
		t.Fatalf("bearer login: %v auth %q scope %q", err, p.auth, gotScope)
	}
	p.entry.Password = secretOf("wrong")
	if err := p.login(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "401") || gotAuth != "" {
		t.Fatalf("refused bearer login: %v", err)
	}
}

func testenvTLS(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func secretOf(v string) secret.Secret { return secret.New(v) }
