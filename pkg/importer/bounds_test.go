package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/rootsock"
)

// fakeEnroot is an enroot on PATH for the importer's own steps: digest
// prints a digest, import writes a file.
func fakeEnroot(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\ncase \"$1\" in\ndigest) echo sha256:" + strings.Repeat("ab", 32) + " ;;\nimport) printf hsqs > \"$3\" ;;\nesac\n"
	if err := os.WriteFile(filepath.Join(dir, "enroot"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
}

// wedged serves the importer socket with h, as a daemon gone wrong would.
func wedged(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the importer trusts only a socket root serves: run the tests as root")
	}
	sock := filepath.Join(t.TempDir(), "images.sock")
	ln, err := rootsock.ListenUnix(sock, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return sock
}

func stream(w http.ResponseWriter, e Event) bool {
	if err := json.NewEncoder(w).Encode(e); err != nil {
		return false
	}
	return http.NewResponseController(w).Flush() == nil
}

// Jobs never hang on the cache (issue finding 10): whatever the daemon
// does wrong, the importer imports on its own within its bounds, and a
// slow import that moves is waited for.
func TestImporterNeverHangsOnTheCache(t *testing.T) {
	fakeEnroot(t)
	uri := "docker://registry.example.com#ml/hello:v1"
	rt := filepath.Join(t.TempDir(), "pyxis")
	env := map[string]string{"SLURM_JOB_ID": "42", "SLURM_STEP_ID": "0", "SLURM_JOB_UID": "0", "PYXIS_RUNTIME_PATH": rt}
	own := filepath.Join(rt, "0", "42.0.squashfs")
	// Each case makes one bound short and the others long, so a loaded
	// machine that delays a line cannot trip a bound the case is not about.
	long := time.Minute
	silent := Bounds{AnswerWithin: long, LineWithin: time.Second, NoProgressFor: long}
	stuck := Bounds{AnswerWithin: long, LineWithin: long, NoProgressFor: time.Second}
	moving := Bounds{AnswerWithin: long, LineWithin: long, NoProgressFor: 2 * time.Second}
	forever := func(r *http.Request) { <-r.Context().Done() }

	for _, c := range []struct {
		name    string
		bounds  Bounds
		handler http.HandlerFunc
		want    string // the path, or the reason the importer gave up
		within  time.Duration
	}{
		{"accepts and never answers", Bounds{}, func(_ http.ResponseWriter, r *http.Request) { forever(r) },
			"awaiting response headers", DefaultBounds().AnswerWithin + 10*time.Second},
		{"answers, then says nothing", silent, func(w http.ResponseWriter, r *http.Request) {
			stream(w, Event{State: "verifying", Progress: 1})
			forever(r)
		}, "sent nothing for 1s", 10 * time.Second},
		{"heartbeats without progress", stuck, func(w http.ResponseWriter, r *http.Request) {
			for stream(w, Event{State: "importing", Progress: 7}) {
				time.Sleep(100 * time.Millisecond)
			}
		}, "no progress for 1s (importing)", 10 * time.Second},
		// 4 s of import, longer than NoProgressFor, moving every 100 ms.
		{"a slow import that moves", moving, func(w http.ResponseWriter, r *http.Request) {
			for i := range 40 {
				stream(w, Event{State: "importing", Progress: int64(i)})
				time.Sleep(100 * time.Millisecond)
			}
			stream(w, Event{Path: "/cache/sha256/x.sqsh"})
		}, "/cache/sha256/x.sqsh", time.Minute},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			im := &Importer{Socket: wedged(t, c.handler), Getenv: func(k string) string { return env[k] }, Stderr: &stderr, Bounds: c.bounds}
			_ = os.Remove(own)
			start := time.Now()
			path, err := im.Get(context.Background(), uri)
			took := time.Since(start)
			if strings.HasPrefix(c.want, "/") {
				if err != nil || path != c.want {
					t.Fatalf("%q, %v\n%s", path, err, stderr.String())
				}
				return
			}
			if err != nil || path != own || !strings.Contains(stderr.String(), c.want) {
				t.Fatalf("got %q, %v; want the user's own import after %q\n%s", path, err, c.want, stderr.String())
			}
			if took > c.within {
				t.Fatalf("the job waited %s, bound %s", took, c.within)
			}
			t.Logf("fell back after %s", took.Round(100*time.Millisecond))
		})
	}
	if DefaultBounds().AnswerWithin > 30*time.Second || DefaultBounds().LineWithin > 30*time.Second || DefaultBounds().NoProgressFor > 2*time.Minute {
		t.Fatalf("the default bounds are not seconds: %+v", DefaultBounds())
	}
}
