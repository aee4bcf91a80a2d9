package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
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
	srv     *server
	sock    *server // the root-only socket the CLI asks; nil when it could not be made
	metrics *Metrics
	beat    atomic.Int64 // unix nanos of the loop's last turn; read by /healthz
	drained atomic.Bool  // the daemon's drainer has the node drained; read by /metrics
	probes  probe.Record // the credentials-probe check's latest stages; read by /metrics
}

// server is the HTTP listener for /verify, /healthz and /metrics. It is
// bound before READY=1, so a probe never meets a "ready" node that refuses
// connections.
type server struct {
	addr string
	srv  *http.Server
}

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
		WriteTimeout:      time.Minute,
		IdleTimeout:       time.Minute,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server stopped", zap.Error(err))
		}
	}()
	log.Info("serving /verify, /healthz and /metrics", zap.String("listen", s.addr))
	return s
}

// close lets requests in flight finish until ctx ends, then drops them.
func (s *server) close(ctx context.Context) {
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
}

// alive is /healthz: the event loop turned within the last few seconds.
func (l *loop) alive() error {
	if age := time.Since(time.Unix(0, l.serve.beat.Load())); age > 10*time.Second {
		return fmt.Errorf("event loop last ran %s ago", age.Round(time.Second))
	}
	return nil
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	old.close(ctx)
	return nil
}
