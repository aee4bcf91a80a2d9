package agent

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
	"go.uber.org/zap"
)

// A request that declares a body and never sends it (issue finding 4) is
// dropped within readWithin: the daemon's descriptors are not held forever
// by whoever connects to verify.listen.
func TestNeverSentBodyIsDropped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") }), zap.NewNop())
	defer s.srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST /verify HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(readWithin + 20*time.Second))
	_, err = io.ReadAll(c)
	if err != nil { // a deadline: the server still holds the connection
		t.Fatalf("the connection was still open after %s: %v", time.Since(start).Round(time.Second), err)
	}
	if took := time.Since(start); took > readWithin+5*time.Second {
		t.Fatalf("closed after %s, want within %s", took, readWithin)
	}
}

// A listener that stops accepting (its Serve ended by an error, not by a
// close) fails /healthz and stops the watchdog pings, so systemd restarts
// the agent instead of leaving one nobody can reach (issue finding 3).
func TestDeadListenerFailsHealthzAndWatchdog(t *testing.T) {
	rec := &notes{}
	l := &loop{d: &Daemon{Notifier: rec, Log: zap.NewNop()}, log: zap.NewNop()}
	l.serve.beat.Store(time.Now().UnixNano())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := serve(ln, http.NotFoundHandler(), zap.NewNop())
	defer s.srv.Close()
	l.serve.listeners.set("verify.listen", s.err)
	healthz := handler(nil, l.alive, nil)
	probe := func() int {
		w := httptest.NewRecorder()
		healthz.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		return w.Code
	}
	l.watchdogPing()
	if code, n := probe(), rec.count("WATCHDOG=1"); code != 200 || n != 1 {
		t.Fatalf("healthy: /healthz %d, %d pings", code, n)
	}
	_ = ln.Close() // under the server, as a failing accept would end it
	if !fake.Eventually(10*time.Second, func() bool { return s.err() != nil }) {
		t.Fatal("the server did not notice its listener died")
	}
	l.watchdogPing()
	if code, n := probe(), rec.count("WATCHDOG=1"); code != http.StatusServiceUnavailable || n != 1 {
		t.Fatalf("dead listener: /healthz %d, %d pings", code, n)
	}
	if err := l.alive(); err == nil || !strings.Contains(err.Error(), "verify.listen stopped accepting") {
		t.Fatalf("alive: %v", err)
	}
	// A listener watched no more (the image cache turned off) counts no more.
	l.serve.listeners.set("verify.listen", nil)
	l.serve.listeners.set("other", func() error { return nil })
	if err := l.alive(); err != nil {
		t.Fatal(err)
	}
}
