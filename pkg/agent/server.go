package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"
)

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
	return s, nil
}

// close lets requests in flight finish until ctx ends, then drops them.
func (s *server) close(ctx context.Context) {
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
}
