package rootsock

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serve answers on a root-only socket with h until the test ends.
func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	mustRoot(t)
	path := filepath.Join(t.TempDir(), "images.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return path
}

func post(t *testing.T, ctx context.Context, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://enroot-agent/v1/get", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// One request, one connection: the server sees the body and
// Connection: close, and the answer streams to the end.
func TestRoundTripOneRequest(t *testing.T) {
	path := serve(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if string(b) != `{"job":"7"}` || !r.Close || r.Method != http.MethodPost || r.URL.Path != "/v1/get" {
			http.Error(w, "bad request "+r.Method+" "+r.URL.Path+" "+string(b), http.StatusBadRequest)
			return
		}
		for _, line := range []string{"one\n", "two\n"} {
			io.WriteString(w, line)
			http.NewResponseController(w).Flush()
		}
	})
	resp, err := RoundTrip(context.Background(), path, post(t, context.Background(), `{"job":"7"}`), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || string(got) != "one\ntwo\n" {
		t.Fatalf("%s %q %v", resp.Status, got, err)
	}
}

// A server that accepts and never answers costs within, and says so as
// http.Transport's ResponseHeaderTimeout did; a user's server is refused;
// errors read as http.Client's.
func TestRoundTripBounds(t *testing.T) {
	path := serve(t, func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	start := time.Now()
	_, err := RoundTrip(context.Background(), path, post(t, context.Background(), "{}"), 200*time.Millisecond)
	if err == nil || err.Error() != `Post "http://enroot-agent/v1/get": net/http: timeout awaiting response headers` {
		t.Fatalf("got %v, want the header timeout", err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("waited %s for a bound of 200ms", took)
	}
	_, err = RoundTrip(context.Background(), filepath.Join(t.TempDir(), "none.sock"), post(t, context.Background(), "{}"), time.Minute)
	if err == nil || !strings.HasPrefix(err.Error(), `Post "http://enroot-agent/v1/get": dial unix `) {
		t.Fatalf("no socket: %v", err)
	}
}

// The body has no deadline (an import streams for minutes), but the
// context's end closes the connection, and so does closing the body while
// the server still streams: neither waits for the server.
func TestRoundTripBodyEndsWithContextOrClose(t *testing.T) {
	path := serve(t, func(w http.ResponseWriter, r *http.Request) {
		for r.Context().Err() == nil {
			if _, err := io.WriteString(w, "progress\n"); err != nil {
				return
			}
			http.NewResponseController(w).Flush()
			time.Sleep(10 * time.Millisecond)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := RoundTrip(ctx, path, post(t, ctx, "{}"), 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // past within: the body is not bound by it
	if _, err := resp.Body.Read(make([]byte, 64)); err != nil {
		t.Fatalf("the body was cut by the header bound: %v", err)
	}
	cancel()
	done := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, resp.Body); done <- err }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("reading the body went on after the context ended")
	}
	resp.Body.Close()

	resp, err = RoundTrip(context.Background(), path, post(t, context.Background(), "{}"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { resp.Body.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("closing the body read the endless stream to its end")
	}
	if _, err := resp.Body.Read(make([]byte, 64)); err == nil {
		t.Fatal("the body still reads after Close")
	}
}
