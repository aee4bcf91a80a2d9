package serve

import (
	"context"
	"encoding/json"
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
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// SocketPath is the daemon's root-only socket under its RuntimeDirectory.
// The CLI asks the daemon there, never on verify.listen: while the agent
// restarts, any local user can bind that TCP port and answer "ok" or
// "fail", and `verify --drain` runs as root.
const SocketPath = verify.DaemonSocket

// Handler serves the agent's endpoints:
//
//	GET /verify   every check as JSON; 200 when all are ok, 503 otherwise
//	GET /healthz  the daemon's own liveness (alive returns nil), not the node's
//	GET /metrics  Prometheus exposition
func Handler(cache *verify.Cache, alive func() error, metrics prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /verify", func(w http.ResponseWriter, r *http.Request) {
		rep, err := cache.Get(r.Context())
		if err != nil {
			http.Error(w, "verify: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		code := http.StatusOK
		if rep.Status != verify.OK {
			code = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if err := alive(); err != nil {
			http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	if metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{
			// One broken collector must not hide every other metric.
			ErrorHandling: promhttp.ContinueOnError,
		}))
	}
	return mux
}

// Server is an HTTP listener for /verify, /healthz and /metrics. The
// daemon binds it before READY=1, so a probe never meets a "ready" node
// that refuses connections.
type Server struct {
	addr string
	srv  *http.Server
	dead atomic.Pointer[error] // why Serve ended, when not by Close
}

// HTTP bounds of the verify endpoints: a client must send its request
// (headers and body) within readWithin, and may keep an idle connection for
// idleWithin; a request whose body never comes is dropped, not held.
const (
	readWithin = 10 * time.Second
	idleWithin = time.Minute
)

// Listen serves h on the TCP address verify.listen names.
func Listen(addr string, h http.Handler, log *zap.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("verify.listen %s: %w", addr, err)
	}
	return serve(ln, h, log), nil
}

// ListenSocket serves h on the root-only socket for the CLI (SocketPath).
func ListenSocket(root config.Root, h http.Handler, log *zap.Logger) (*Server, error) {
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

func serve(ln net.Listener, h http.Handler, log *zap.Logger) *Server {
	s := &Server{addr: ln.Addr().String(), srv: &http.Server{
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
		// any other error ends it, and Err says so to /healthz.
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.dead.Store(&err)
			log.Error("HTTP server stopped", zap.Error(err))
		}
	}()
	log.Info("serving /verify, /healthz and /metrics", zap.String("listen", s.addr))
	return s
}

// Handler is what the server serves, for a rebind to serve it elsewhere.
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Err is why the server stopped accepting; nil while it serves.
func (s *Server) Err() error {
	if e := s.dead.Load(); e != nil {
		return *e
	}
	return nil
}

// Close lets requests in flight finish until ctx ends, then drops them.
func (s *Server) Close(ctx context.Context) {
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
}

// Listeners is the health of everything the daemon serves. A listener
// that stopped accepting fails /healthz and stops the watchdog pings, so
// systemd restarts the agent instead of keeping a daemon nobody reaches.
type Listeners struct {
	mu     sync.Mutex
	checks map[string]func() error
}

// Set watches name with check (nil: stop watching it).
func (ls *Listeners) Set(name string, check func() error) {
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

// Err is the first listener that stopped, by name.
func (ls *Listeners) Err() error {
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
