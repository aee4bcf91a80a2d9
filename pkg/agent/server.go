package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/internal/rootsock"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/credentials/probe"
	"go.uber.org/zap"
)

// serving is what the daemon shows the outside: the listener and the
// metrics, and the loop's heartbeat behind /healthz.
type serving struct {
	srv       *server
	sock      *server // the root-only socket the CLI asks; nil when it could not be made
	metrics   *Metrics
	beat      atomic.Int64 // unix nanos of the loop's last turn; read by /healthz
	drained   atomic.Bool  // the daemon's drainer has the node drained; read by /metrics
	listeners listeners    // read by /healthz and the watchdog
	probes    probe.Record // the credentials-probe check's latest stages; read by /metrics
}

// listeners is the health of everything the daemon serves. A listener
// that stopped accepting fails /healthz and stops the watchdog pings, so
// systemd restarts the agent instead of keeping a daemon nobody reaches.
type listeners struct {
	mu     sync.Mutex
	checks map[string]func() error
}

// set watches name with check (nil: stop watching it).
func (ls *listeners) set(name string, check func() error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.checks == nil {
		ls.checks = map[string]func() error{}
	}
	if check == nil {
		delete(ls.checks, name)
		return
	}
	ls.checks[name] = check
}

// err is the first listener that stopped, by name.
func (ls *listeners) err() error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	names := make([]string, 0, len(ls.checks))
	for n := range ls.checks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := ls.checks[n](); err != nil {
			return fmt.Errorf("%s stopped accepting: %w", n, err)
		}
	}
	return nil
}

// server is the HTTP listener for /verify, /healthz and /metrics. It is
// bound before READY=1, so a probe never meets a "ready" node that refuses
// connections.
type server struct {
	addr string
	srv  *http.Server
	dead atomic.Pointer[error] // why Serve ended, when not by close
}

// HTTP bounds of the verify endpoints: a client must send its request
// (headers and body) within readWithin, and may keep an idle connection for
// idleWithin; a request whose body never comes is dropped, not held.
const (
	readWithin = 10 * time.Second
	idleWithin = time.Minute
)

func listen(addr string, h http.Handler, log *zap.Logger) (*server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("verify.listen %s: %w", addr, err)
	}
	return serve(ln, h, log), nil
}

// listenSocket serves h on the root-only socket for the CLI.
func listenSocket(root config.Root, h http.Handler, log *zap.Logger) (*server, error) {
	path := root.Path(SocketPath)
	if err := atomicfile.MkdirIfMissing(filepath.Dir(path)); err != nil {
		return nil, err
	}
	ln, err := rootsock.Listen(path)
	if err != nil {
		return nil, err
	}
	return serve(ln, h, log), nil
}

func serve(ln net.Listener, h http.Handler, log *zap.Logger) *server {
	s := &server{addr: ln.Addr().String(), srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       readWithin,
		WriteTimeout:      time.Minute,
		IdleTimeout:       idleWithin,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}}
	go func() {
		// Serve retries a failed accept (EMFILE, ENFILE) with backoff;
		// any other error ends it, and err says so to /healthz.
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.dead.Store(&err)
			log.Error("HTTP server stopped", zap.Error(err))
		}
	}()
	log.Info("serving /verify, /healthz and /metrics", zap.String("listen", s.addr))
	return s
}

// err is why the server stopped accepting; nil while it serves.
func (s *server) err() error {
	if e := s.dead.Load(); e != nil {
		return *e
	}
	return nil
}

// close lets requests in flight finish until ctx ends, then drops them.
func (s *server) close(ctx context.Context) {
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
}

// alive is /healthz: the event loop turned within the last few seconds,
// and every listener still accepts.
func (l *loop) alive() error {
	if age := time.Since(time.Unix(0, l.serve.beat.Load())); age > 10*time.Second {
		return fmt.Errorf("event loop last ran %s ago", age.Round(time.Second))
	}
	return l.serve.listeners.err()
}

// watchdogPing tells systemd the daemon lives, only while every listener
// accepts: a daemon whose socket died is restarted rather than kept.
func (l *loop) watchdogPing() {
	if err := l.serve.listeners.err(); err != nil {
		l.log.Error("not pinging the watchdog: systemd will restart the agent", zap.Error(err))
		return
	}
	l.d.notify("WATCHDOG=1")
}

// rebind moves the listener when verify.listen changed; failing to bind
// the new address rejects the reload, so the node stays observable.
func (l *loop) rebind(cfg config.Config) error {
	old := l.serve.srv
	srv, err := listen(cfg.Verify.Listen, old.srv.Handler, l.log)
	if err != nil {
		return err
	}
	l.serve.srv = srv
	l.serve.listeners.set("verify.listen", srv.err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	old.close(ctx)
	return nil
}
