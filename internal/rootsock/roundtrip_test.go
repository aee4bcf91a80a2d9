package rootsock

import (
	"bufio"
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

func post(body string) Request {
	return Request{Method: "POST", Path: "/v1/get", ContentType: "application/json", Body: []byte(body)}
}

// One request, one connection: the server sees the body and
// Connection: close, and the answer streams to the end.
func TestRoundTripOneRequest(t *testing.T) {
	path := serve(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if string(b) != `{"job":"7"}` || !r.Close || r.Method != http.MethodPost || r.URL.Path != "/v1/get" ||
			r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request "+r.Method+" "+r.URL.Path+" "+string(b), http.StatusBadRequest)
			return
		}
		for _, line := range []string{"one\n", "two\n"} {
			io.WriteString(w, line)
			http.NewResponseController(w).Flush()
		}
	})
	resp, err := RoundTrip(context.Background(), path, post(`{"job":"7"}`), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.Code != http.StatusOK || resp.Status != "200 OK" || string(got) != "one\ntwo\n" {
		t.Fatalf("%s %q %v", resp.Status, got, err)
	}
}

// A server that accepts and never answers costs within, and says so as
// http.Transport's ResponseHeaderTimeout did; a user's server is refused;
// errors read as http.Client's.
func TestRoundTripBounds(t *testing.T) {
	path := serve(t, func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	start := time.Now()
	_, err := RoundTrip(context.Background(), path, post("{}"), 200*time.Millisecond)
	if err == nil || err.Error() != `Post "http://enroot-agent/v1/get": net/http: timeout awaiting response headers` {
		t.Fatalf("got %v, want the header timeout", err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("waited %s for a bound of 200ms", took)
	}
	_, err = RoundTrip(context.Background(), filepath.Join(t.TempDir(), "none.sock"), post("{}"), time.Minute)
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
	resp, err := RoundTrip(ctx, path, post("{}"), 50*time.Millisecond)
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

	resp, err = RoundTrip(context.Background(), path, post("{}"), time.Minute)
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

// The head is read from literal answers: what the daemon's net/http server
// sends to an HTTP/1.0 request, and what no server of ours sends.
func TestReadHead(t *testing.T) {
	for _, c := range []struct{ in, code, body, err string }{
		{in: "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"path\":\"/x\"}\n", code: "200 OK", body: "{\"path\":\"/x\"}\n"},
		{in: "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 5\r\n\r\nshort and more", code: "429 Too Many Requests", body: "short"},
		{in: "HTTP/1.0 200 OK\n\nbare newlines", code: "200 OK", body: "bare newlines"},
		{in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", err: `Transfer-Encoding "chunked"`},
		{in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", err: `Content-Length "-1"`},
		{in: "HTTP/2 200\r\n\r\n", err: `malformed HTTP response "HTTP/2 200"`},
		{in: "HTTP/1.1 2000 OK\r\n\r\n", err: "malformed HTTP response"},
		{in: "SSH-2.0-OpenSSH\r\n", err: "malformed HTTP response"},
		{in: "HTTP/1.1 200 OK\r\nServer: x\r\n", err: "unexpected EOF"},
		{in: "", err: "unexpected EOF"},
		{in: "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", maxHeadLine) + "\r\n\r\n", err: "a header line over 4096 bytes"},
		{in: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X: y\r\n", maxHeaders+1) + "\r\n", err: "more than 64 headers"},
	} {
		a, err := readHead(bufio.NewReaderSize(strings.NewReader(c.in), maxHeadLine))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%.40q: got %v, want an error with %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%.40q: %v", c.in, err)
			continue
		}
		body, _ := io.ReadAll(a.Body)
		if a.Status != c.code || string(body) != c.body {
			t.Errorf("%.40q: %q %q, want %q %q", c.in, a.Status, body, c.code, c.body)
		}
	}
}

// A refusal with a Content-Length and a streamed answer without one both
// arrive whole over a real socket: net/http's server ends an answer to
// HTTP/1.0 by closing the connection.
func TestRoundTripRefusalAndLength(t *testing.T) {
	path := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 1 || r.ProtoMinor != 0 {
			http.Error(w, "not HTTP/1.0: "+r.Proto, http.StatusBadRequest)
			return
		}
		http.Error(w, `{"error":"too many"}`, http.StatusTooManyRequests)
	})
	resp, err := RoundTrip(context.Background(), path, post("{}"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.Code != http.StatusTooManyRequests || string(got) != "{\"error\":\"too many\"}\n" {
		t.Fatalf("%d %s %q", resp.Code, resp.Status, got)
	}
}
