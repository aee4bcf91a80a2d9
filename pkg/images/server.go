package images

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/rootsock"
	"github.com/enroot-agent/enroot-agent/internal/userdb"
	"github.com/enroot-agent/enroot-agent/pkg/importer"
	"go.uber.org/zap"
)

// Connection bounds of the socket. A uid past its cap, or any peer past
// the total, is closed at accept: one user cannot take the daemon's
// descriptors, and the socket keeps accepting for everyone else.
const (
	DefaultConnsPerUID = 16
	DefaultConns       = 512
)

// Server serves the importer socket: HTTP, as pkg/importer's
// protocol.go says. Any local
// user may connect: the kernel's SO_PEERCRED says who they are, and that
// uid names their holds. Every request is bounded in size and time.
type Server struct {
	Cache *Cache
	Log   *zap.Logger
	// Group is credentials.group: only its members (and root) are served.
	Group string
	// Users resolves Group through the node's NSS (nil: uncached lookups).
	Users *userdb.DB
	// ConnsPerUID and Conns cap open connections (0: the defaults).
	ConnsPerUID, Conns int

	srv  *http.Server
	done chan struct{}
	err  atomic.Pointer[error]
}

// Listen binds path (0666: every job user connects), replacing a stale
// socket but never another kind of file, and serves it.
func (s *Server) Listen(path string) error {
	ln, err := rootsock.ListenUnix(path, 0o666)
	if err != nil {
		return fmt.Errorf("image cache socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+importer.PathGet, s.handleGet)
	mux.HandleFunc("POST "+importer.PathGetV2, s.handleGetV2)
	mux.HandleFunc("POST "+importer.PathRelease, s.handleRelease)
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second, // headers and the (small) body
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ConnContext:       func(ctx context.Context, c net.Conn) context.Context { return withPeer(ctx, c) },
		ErrorLog:          zap.NewStdLog(s.Log.Named("http")),
	}
	s.done = make(chan struct{})
	capped := &capListener{Listener: ln, perUID: orDefault(s.ConnsPerUID, DefaultConnsPerUID), total: orDefault(s.Conns, DefaultConns),
		open: map[uint32]int{}, log: s.Log}
	go func() {
		defer close(s.done)
		// net/http retries a failed accept (EMFILE, ENFILE) with backoff;
		// anything else ends Serve, and Err says so to /healthz.
		if err := s.srv.Serve(capped); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.err.Store(&err)
			s.Log.Error("the image cache socket stopped accepting", zap.Error(err))
		}
	}()
	return nil
}

// Err is why the socket stopped accepting, nil while it serves.
func (s *Server) Err() error {
	if e := s.err.Load(); e != nil {
		return *e
	}
	return nil
}

// Close stops accepting and drops the connections; imports in flight go on
// (their own deadline), and importers waiting on them fall back.
func (s *Server) Close() {
	if s.srv != nil {
		_ = s.srv.Close()
		<-s.done
	}
}

func orDefault(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

// capListener closes, at accept, a connection whose uid has perUID open or
// that would pass total; it passes accept errors on unchanged, so net/http
// backs off on the temporary ones.
type capListener struct {
	net.Listener
	perUID, total int
	log           *zap.Logger

	mu     sync.Mutex
	open   map[uint32]int
	all    int
	warned time.Time
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		p, err := readPeer(c)
		if err != nil {
			_ = c.Close()
			continue
		}
		if l.admit(p.uid) {
			return &peerConn{Conn: c, peer: p, l: l}, nil
		}
		_ = c.Close()
	}
}

func (l *capListener) admit(uid uint32) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[uid] >= l.perUID || l.all >= l.total {
		if time.Since(l.warned) > time.Minute {
			l.warned = time.Now()
			l.log.Warn("image cache connection refused: too many open", zap.Uint32("uid", uid), zap.Int("uid_open", l.open[uid]), zap.Int("open", l.all))
		}
		return false
	}
	l.open[uid]++
	l.all++
	return true
}

func (l *capListener) release(uid uint32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all--
	if l.open[uid]--; l.open[uid] <= 0 {
		delete(l.open, uid)
	}
}

// peerConn is an admitted connection; it knows its peer, as the kernel
// recorded it at connect (uid, gid, pid and supplementary groups), and
// gives its slot back once, when closed.
type peerConn struct {
	net.Conn
	peer peer
	l    *capListener
	once sync.Once
}

func (c *peerConn) Close() error {
	c.once.Do(func() { c.l.release(c.peer.uid) })
	return c.Conn.Close()
}

type peerKey struct{}

func withPeer(ctx context.Context, c net.Conn) context.Context {
	if pc, ok := c.(*peerConn); ok {
		return context.WithValue(ctx, peerKey{}, pc.peer)
	}
	return ctx
}

// peerOf is who sent the request of ctx, as its connection recorded it.
func peerOf(ctx context.Context) (peer, bool) {
	p, ok := ctx.Value(peerKey{}).(peer)
	return p, ok
}
