package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
	"github.com/enroot-agent/enroot-agent/internal/fake/systemd"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// agentProc is the real binary running `run` under a stand-in systemd: a
// unixgram NOTIFY_SOCKET, and WATCHDOG_USEC/WATCHDOG_PID when asked.
type agentProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	notify *systemd.NotifySocket
	root   string
	listen string
	log    *syncBuffer
	exited chan struct{}
	err    error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// daemonRoot is a converging sandbox whose config listens on a free port
// and adds verifyKeys (indented lines) to the verify section; it returns the
// root and the listen address.
func daemonRoot(t *testing.T, verifyKeys string) (string, string) {
	t.Helper()
	root := sandbox(t)
	listen := freeAddr(t)
	appendConfig(t, root, "verify:\n  listen: "+listen+"\n"+verifyKeys)
	return root, listen
}

func configPath(root string) string { return filepath.Join(root, "etc/enroot-agent/config.yaml") }

func appendConfig(t *testing.T, root, yaml string) {
	t.Helper()
	f, err := os.OpenFile(configPath(root), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(yaml); err != nil {
		t.Fatal(err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startAgent runs the daemon. watchdog > 0 sets WATCHDOG_USEC, and
// WATCHDOG_PID to the agent's own pid as systemd does (the shell execs the
// agent, so $$ is its pid).
func startAgent(t *testing.T, root, listen string, watchdog time.Duration, env ...string) *agentProc {
	t.Helper()
	n := testenv.StartNotifySocket(t)
	script := `exec "$0" "$@"`
	if watchdog > 0 {
		script = `export WATCHDOG_PID=$$ WATCHDOG_USEC=` + strconv.FormatInt(watchdog.Microseconds(), 10) + `; ` + script
	}
	cmd := exec.Command("/bin/sh", "-c", script, testenv.Binary(t), "--root", root, "--log-format", "json", "run")
	cmd.Env = append(append(append([]string{}, awsFor(t).env...), n.Env()), env...)
	a := &agentProc{t: t, cmd: cmd, notify: n, root: root, listen: listen, log: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = a.log, a.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.err = cmd.Wait(); close(a.exited) }()
	t.Cleanup(func() {
		if t.Failed() {
			// Go's runtime answers SIGQUIT with every goroutine's stack:
			// where a wedged loop waits is in the log below.
			_ = cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-a.exited:
			case <-time.After(5 * time.Second):
			}
		}
		_ = cmd.Process.Kill()
		<-a.exited
		if t.Failed() {
			t.Logf("agent log:\n%s", a.log)
		}
	})
	return a
}

// waitNotify waits for a notification with a line starting with prefix.
func (a *agentProc) waitNotify(from int, prefix string, timeout time.Duration) (systemd.Notification, int) {
	a.t.Helper()
	m, i, ok := a.notify.Wait(from, prefix, timeout)
	if !ok {
		a.t.Fatalf("no %q within %s; got %q", prefix, timeout, states(a.notify.Messages()))
	}
	return m, i
}

func (a *agentProc) signal(sig syscall.Signal) {
	a.t.Helper()
	if err := a.cmd.Process.Signal(sig); err != nil {
		a.t.Fatal(err)
	}
}

// waitExit waits for the agent to exit and returns how long it took.
func (a *agentProc) waitExit(within time.Duration) time.Duration {
	a.t.Helper()
	start := time.Now()
	select {
	case <-a.exited:
		return time.Since(start)
	case <-time.After(within):
		a.t.Fatalf("agent still running %s after the signal", within)
		return 0
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func states(ms []systemd.Notification) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.State
	}
	return out
}

// waitLog waits for the agent's log to contain s: log lines travel through
// a pipe, so they can trail the notification sent after them.
func (a *agentProc) waitLog(s string, timeout time.Duration) {
	a.t.Helper()
	if !fake.Eventually(timeout, func() bool { return strings.Contains(a.log.String(), s) }) {
		a.t.Fatalf("no %q in the agent's log within %s", s, timeout)
	}
}
