package images

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/rootsock"
	"go.uber.org/zap"

	"github.com/enroot-agent/enroot-agent/pkg/imageref"
)

// DefaultSocket is where the daemon serves importers (re-rooted by --root).
const DefaultSocket = "/run/enroot-agent/images.sock"

// request is one line an importer sends; response the line it gets back.
type request struct {
	Op     string          `json:"op"` // "get" or "release"
	URI    string          `json:"uri,omitempty"`
	Digest imageref.Digest `json:"digest,omitempty"`
	Job    string          `json:"job"`
	Step   string          `json:"step"`
}

type response struct {
	Path  string `json:"path,omitempty"`
	Error string `json:"error,omitempty"`
}

// Server serves the importer socket. Any local user may connect: the
// kernel's SO_PEERCRED says who they are, and that uid names their holds.
// A request carries a digest the user resolved with their own credentials.
type Server struct {
	Cache *Cache
	Log   *zap.Logger
	// Group is credentials.group: only its members (and root) are served.
	Group string

	ln net.Listener
	wg sync.WaitGroup
}

// Listen binds path (0666: every job user connects), replacing a stale
// socket but never another kind of file.
func (s *Server) Listen(path string) error {
	ln, err := rootsock.ListenUnix(path, 0o666)
	if err != nil {
		return fmt.Errorf("image cache socket: %w", err)
	}
	s.ln = ln
	s.wg.Add(1)
	go s.accept()
	return nil
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.serve(c)
	}
}

// Close stops accepting; requests in flight finish on their own.
func (s *Server) Close() {
	if s.ln != nil {
		s.ln.Close()
		s.wg.Wait()
	}
}

func (s *Server) serve(c net.Conn) {
	defer c.Close()
	cred, err := rootsock.PeerCred(c)
	if err != nil {
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadBytes('\n')
	var req request
	if err == nil {
		err = json.Unmarshal(line, &req)
	}
	var resp response
	if err != nil {
		resp.Error = "bad request: " + err.Error()
	} else {
		h := Holder{UID: cred.Uid, Job: req.Job, Step: req.Step, PID: parentPID(int(cred.Pid))}
		resp = s.handle(req, h)
	}
	data, _ := json.Marshal(resp)
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, _ = c.Write(append(data, '\n'))
}
