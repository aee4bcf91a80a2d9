package pkgrepo

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is one injected misbehaviour, used up by one request.
type Fault struct {
	Status   int           // answer with this status instead of the file
	Delay    time.Duration // wait before answering
	Hang     bool          // never answer (with CutAfter: stop sending after that many bytes)
	CutAfter int           // send only this many body bytes, then drop the connection
}

// ArtifactServer serves files over HTTP from memory, honours Range requests
// (http.ServeContent), counts every request and injects faults on demand. It
// stands in for a release page or an internal mirror.
type ArtifactServer struct {
	URL string // base URL, ending in "/"

	srv      *httptest.Server
	closing  chan struct{}
	mu       sync.Mutex
	files    map[string][]byte
	faults   map[string][]Fault
	requests map[string]int
	ranges   int
}

// StartArtifactServer starts a server on 127.0.0.1; Close stops it.
func StartArtifactServer() (*ArtifactServer, error) {
	s := &ArtifactServer{closing: make(chan struct{}), files: map[string][]byte{},
		faults: map[string][]Fault{}, requests: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL + "/"
	return s, nil
}

// Close stops the server, releasing hanging requests first.
func (s *ArtifactServer) Close() {
	select {
	case <-s.closing:
	default:
		close(s.closing)
		s.srv.CloseClientConnections()
		s.srv.Close()
	}
}

// Put makes data available at URL+name.
func (s *ArtifactServer) Put(name string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[name] = data
}

// Fail queues faults for the next requests of name, one per request.
func (s *ArtifactServer) Fail(name string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[name] = append(s.faults[name], faults...)
}

// Requests is how many requests name received; "" counts every request.
func (s *ArtifactServer) Requests(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == "" {
		n := 0
		for _, c := range s.requests {
			n += c
		}
		return n
	}
	return s.requests[name]
}

// RangeRequests is how many requests asked for a byte range (resumes).
func (s *ArtifactServer) RangeRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ranges
}

func (s *ArtifactServer) serve(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	s.mu.Lock()
	s.requests[name]++
	if r.Header.Get("Range") != "" {
		s.ranges++
	}
	data, ok := s.files[name]
	var fault Fault
	if q := s.faults[name]; len(q) > 0 {
		fault, s.faults[name] = q[0], q[1:]
	}
	s.mu.Unlock()
	if s.injure(w, r, fault, data) || !ok {
		if !ok {
			http.NotFound(w, r)
		}
		return
	}
	http.ServeContent(w, r, name, time.Unix(1700000000, 0), bytes.NewReader(data))
}

// injure applies fault and reports whether the request was fully handled.
func (s *ArtifactServer) injure(w http.ResponseWriter, r *http.Request, f Fault, data []byte) bool {
	if f.Delay > 0 {
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			return true
		}
	}
	switch {
	case f.Hang && f.CutAfter == 0:
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		return true
	case f.Status != 0:
		http.Error(w, http.StatusText(f.Status), f.Status)
		return true
	case f.CutAfter > 0 && f.CutAfter < len(data):
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(data[:f.CutAfter])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		if f.Hang {
			select {
			case <-r.Context().Done():
			case <-s.closing:
			}
		}
		panic(http.ErrAbortHandler) // drops the connection mid-body
	}
	return false
}
