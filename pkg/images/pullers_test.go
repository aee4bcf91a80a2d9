package images

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// tokenGate makes the test registry a bearer-token registry, as Docker
// Hub or GitLab's: /v2/ and the repository answer 401 with a challenge
// until a token from its realm is shown; the realm trades the basic
// credentials login:password for a token. It records who traded, and
// revoke makes every token given so far worthless.
type tokenGate struct {
	login, password string

	mu     sync.Mutex
	valid  map[string]bool
	traded []string // the login of each trade ("" anonymous)
	n      int
}

func (g *tokenGate) wrap(host string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path == "/token" {
				g.trade(w, req)
				return
			}
			g.mu.Lock()
			ok := g.valid[strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")]
			g.mu.Unlock()
			if !ok {
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="test"`, host))
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, req)
		})
	}
}

func (g *tokenGate) trade(w http.ResponseWriter, req *http.Request) {
	login, password, _ := req.BasicAuth()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.traded = append(g.traded, login)
	if login != g.login || password != g.password {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	g.n++
	tok := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("token-%d", g.n)))
	if g.valid == nil {
		g.valid = map[string]bool{}
	}
	g.valid[tok] = true
	_ = json.NewEncoder(w).Encode(map[string]string{"token": tok})
}

func (g *tokenGate) revoke() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.valid = nil
}

func (g *tokenGate) trades() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.traded...)
}

func writeNetrc(t *testing.T, path, login, password string) {
	t.Helper()
	entry := ""
	if login != "" {
		entry = "machine 127.0.0.1 login " + login + " password " + password + "\n"
	}
	if err := os.WriteFile(path, []byte(entry), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A cache hit checks the manifest with one request: the registry's
// challenge and token of the first check are kept, not asked again. What
// is kept is never an answer: each check GETs the manifest.
func TestManifestChecksKeepTheHandshake(t *testing.T) {
	reg := newTestRegistry(t)
	_, d := reg.push(t, "ml/hello:v1", "handshake")
	g := &tokenGate{login: "AWS", password: "first"}
	reg.lie(g.wrap(reg.Host))
	netrc := filepath.Join(t.TempDir(), ".credentials")
	writeNetrc(t, netrc, "AWS", "first")
	r := &Registry{Netrc: netrc}
	im := reg.image("ml/hello")
	pushed := reg.exact("GET /v2/") // the push's own
	for i := 0; i < 3; i++ {
		if _, err := r.Verify(context.Background(), im, d); err != nil {
			t.Fatalf("check %d: %v", i, err)
		}
	}
	if pings, gets, trades := reg.exact("GET /v2/")-pushed, reg.requests("GET /v2/ml/hello/manifests/"), len(g.trades()); gets != 3 || trades != 1 {
		t.Fatalf("3 checks: %d manifest GETs, %d token trades, %d pings; want every check to GET the manifest and one trade", gets, trades, pings)
	}
	if pings := reg.exact("GET /v2/") - pushed; pings != 1 {
		t.Fatalf("3 checks pinged /v2/ %d times, want once", pings)
	}
}

// The kept handshake follows the registry and the netrc file: a revoked
// token is traded again, rotated credentials make a new handshake with
// them, and credentials removed from the file are not used any more.
func TestKeptHandshakeFollowsTokensAndCredentials(t *testing.T) {
	reg := newTestRegistry(t)
	_, d := reg.push(t, "ml/hello:v1", "rotation")
	g := &tokenGate{login: "AWS", password: "first"}
	reg.lie(g.wrap(reg.Host))
	netrc := filepath.Join(t.TempDir(), ".credentials")
	writeNetrc(t, netrc, "AWS", "first")
	r := &Registry{Netrc: netrc}
	im := reg.image("ml/hello")
	check := func(what string) error {
		_, err := r.Verify(context.Background(), im, d)
		return err
	}
	if err := check("first"); err != nil {
		t.Fatal(err)
	}
	g.revoke()
	if err := check("after revoke"); err != nil {
		t.Fatalf("after the registry revoked the token: %v", err)
	}
	if n := len(g.trades()); n != 2 {
		t.Fatalf("%d token trades after a revoke, want 2", n)
	}
	g.mu.Lock()
	g.password = "second" // the refresher rotated the token in the netrc file
	g.mu.Unlock()
	writeNetrc(t, netrc, "AWS", "second")
	if err := check("rotated"); err != nil {
		t.Fatalf("after the credentials rotated: %v", err)
	}
	writeNetrc(t, netrc, "", "")
	g.revoke()
	if err := check("removed"); err == nil {
		t.Fatal("the check passed with the credentials removed from the netrc file: a kept handshake was used")
	}
	if tr := g.trades(); len(tr) < 4 || tr[len(tr)-1] != "" {
		t.Fatalf("trades %q: want the last one anonymous", tr)
	}
}

// A handshake gone stale in a way go-containerregistry does not repair (a
// registry that answered anonymously now wants a token) costs one more
// try through a new handshake, never a failed check.
func TestStaleHandshakeIsRedoneNotFailed(t *testing.T) {
	reg := newTestRegistry(t)
	_, d := reg.push(t, "ml/hello:v1", "stale")
	netrc := filepath.Join(t.TempDir(), ".credentials")
	writeNetrc(t, netrc, "AWS", "first")
	r := &Registry{Netrc: netrc}
	im := reg.image("ml/hello")
	pushed := reg.exact("GET /v2/")
	if _, err := r.Verify(context.Background(), im, d); err != nil {
		t.Fatal(err)
	}
	g := &tokenGate{login: "AWS", password: "first"}
	reg.lie(g.wrap(reg.Host))
	if _, err := r.Verify(context.Background(), im, d); err != nil {
		t.Fatalf("after the registry started to want tokens: %v", err)
	}
	if pings := reg.exact("GET /v2/") - pushed; pings != 2 {
		t.Fatalf("%d pings, want 2 (the first handshake, then a new one)", pings)
	}
}

// Users name any repository: the kept handshakes are bounded.
func TestKeptHandshakesAreBounded(t *testing.T) {
	var ps pullers
	newPuller := func() (*remote.Puller, error) { return remote.NewPuller() }
	for i := 0; i < 3*maxPullers; i++ {
		repo, _ := name.NewRepository(fmt.Sprintf("registry.test/u/r%d", i))
		if _, fresh, err := ps.get(repo, authn.AuthConfig{}, newPuller); err != nil || !fresh {
			t.Fatalf("repo %d: fresh %v, %v", i, fresh, err)
		}
	}
	if n := ps.len(); n != maxPullers {
		t.Fatalf("%d kept, want %d", n, maxPullers)
	}
	last, _ := name.NewRepository(fmt.Sprintf("registry.test/u/r%d", 3*maxPullers-1))
	if _, fresh, _ := ps.get(last, authn.AuthConfig{}, newPuller); fresh {
		t.Fatal("the most recent repository's handshake was not kept")
	}
	if _, fresh, _ := ps.get(last, authn.AuthConfig{Username: "AWS", Password: "x"}, newPuller); !fresh {
		t.Fatal("a handshake made with other credentials was reused")
	}
}
