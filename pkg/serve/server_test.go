package serve

import (
	"io"
	"net"
	"net/http"
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

// A server whose listener dies under it (its Serve ended by an error, not
// by Close) says so in Err, which /healthz and the watchdog read through
// Listeners.
func TestDeadListenerSaysSo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := serve(ln, http.NotFoundHandler(), zap.NewNop())
	defer s.srv.Close()
	var ls Listeners
	ls.Set("verify.listen", s.Err)
	if err := ls.Err(); err != nil {
		t.Fatalf("serving: %v", err)
	}
	_ = ln.Close() // under the server, as a failing accept would end it
	if !fake.Eventually(10*time.Second, func() bool { return s.Err() != nil }) {
		t.Fatal("the server did not notice its listener died")
	}
	if err := ls.Err(); err == nil || !strings.Contains(err.Error(), "verify.listen stopped accepting") {
		t.Fatalf("dead listener: %v", err)
	}
}
