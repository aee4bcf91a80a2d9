package images

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/imageref"
	"github.com/enroot-agent/enroot-agent/pkg/importer"
	"go.uber.org/zap"
)

// writeWithin bounds each write to an importer: one that stops reading is
// dropped, not waited on.
const writeWithin = 10 * time.Second

// decode reads a request of at most importer.MaxRequest bytes.
func decode(w http.ResponseWriter, r *http.Request) (importer.Request, error) {
	return decodeFrom(http.MaxBytesReader(w, r.Body, importer.MaxRequest))
}

// decodeFrom reads one Request, refusing fields it does not know.
func decodeFrom(r io.Reader) (importer.Request, error) {
	var req importer.Request
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("bad request: %w", err)
	}
	return req, nil
}

// refuse answers a request refused before any work, with one Event.
func refuse(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(importer.Event{Error: err.Error()})
}

// admit reads the request and says who asks: the peer, as the kernel
// recorded it at connect, and the step the request belongs to. A get is
// authorized (credentials.group) before the step is looked for, so a user
// outside the group is told why, whatever their process tree.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, get bool) (importer.Request, Holder, bool) {
	return s.admitWith(w, r, get, func() (importer.Request, error) { return decode(w, r) })
}

// admitWith is admit with the request read by read.
func (s *Server) admitWith(w http.ResponseWriter, r *http.Request, get bool, read func() (importer.Request, error)) (importer.Request, Holder, bool) {
	p, ok := peerOf(r.Context())
	if !ok {
		refuse(w, http.StatusForbidden, errors.New("no peer credentials"))
		return importer.Request{}, Holder{}, false
	}
	req, err := read()
	if err != nil {
		code := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			code = http.StatusRequestEntityTooLarge
		}
		refuse(w, code, err)
		return req, Holder{}, false
	}
	if get {
		if err := s.authorize(r.Context(), p); err != nil {
			s.Log.Warn("image cache refused a user", zap.Uint32("uid", p.uid), zap.String("uri", req.URI), zap.Error(err))
			refuse(w, http.StatusForbidden, err)
			return req, Holder{}, false
		}
	}
	h, err := s.holder(p, req)
	if err != nil {
		refuse(w, http.StatusForbidden, err)
		return req, h, false
	}
	return req, h, true
}

// holder is the step a request belongs to, as the process tree says
// (stepd.go): the claims of the request are checked, never trusted.
func (s *Server) holder(p peer, req importer.Request) (Holder, error) {
	h := Holder{UID: p.uid, Job: req.Job, Step: req.Step}
	if err := h.valid(); err != nil {
		return h, err
	}
	step, err := findStep(p.pid, p.uid, req.Job, req.Step)
	if err != nil {
		s.Cache.Stats.refused("not_a_step")
		return h, fmt.Errorf("%w: %v", errNotAStep, err)
	}
	h.Proc = step
	return h, nil
}

func (s *Server) handleRelease(w http.ResponseWriter, r *http.Request) {
	_, h, ok := s.admit(w, r, false)
	if !ok {
		return
	}
	if _, err := s.Cache.Store.Release(s.Cache.Node, h); err != nil {
		refuse(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("{}\n"))
}

// handleGet answers with a stream of Events: a heartbeat every
// importer.HeartbeatEvery while the daemon works, then the path or the error.
func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	req, h, ok := s.admit(w, r, true)
	if !ok {
		return
	}
	s.answer(w, r, req, h, nil, start)
}

// handleGetV2 is a get whose digest follows the request: the step is
// admitted and the manifest the URI names is read while the user's enroot
// digest runs (importer.PathGetV2).
func (s *Server) handleGetV2(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body := bufio.NewReader(http.MaxBytesReader(w, r.Body, importer.MaxRequest))
	req, h, ok := s.admitWith(w, r, true, func() (importer.Request, error) { return decodeLine(body) })
	if !ok {
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	fetched := make(chan *Fetched, 1)
	go func() { fetched <- s.prefetch(ctx, req.URI) }()
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(importer.DigestWithin))
	d, err := readDigestLine(body)
	if err != nil {
		refuse(w, http.StatusBadRequest, err)
		return
	}
	req.Digest = string(d)
	// The manifest request may still run: the answer's heartbeats start
	// now, and the get waits for it (or for the request's end).
	s.answer(w, r, req, h, func(ctx context.Context) *Fetched {
		select {
		case f := <-fetched:
			return f
		case <-ctx.Done():
			return nil
		}
	}, start)
}

// prefetch reads what uri names with the agent's credentials; nil when it
// cannot (the get then fetches the user's digest, as /v1/get does).
func (s *Server) prefetch(ctx context.Context, uri string) *Fetched {
	im, ref, err := imageref.ParseReference(uri)
	if err != nil || s.Cache.untrusted() != nil {
		return nil
	}
	f, err := s.Cache.Registry.Fetch(ctx, im, ref)
	if err != nil {
		return nil
	}
	return f
}

// decodeLine reads /v2/get's first line: the request without its digest.
func decodeLine(body *bufio.Reader) (importer.Request, error) {
	line, err := body.ReadBytes('\n')
	if err != nil {
		return importer.Request{}, fmt.Errorf("bad request: %w", err)
	}
	req, err := decodeFrom(bytes.NewReader(line))
	if err != nil {
		return req, err
	}
	if req.Digest != "" {
		return req, errors.New("bad request: the digest goes on a line of its own")
	}
	return req, nil
}

// readDigestLine reads /v2/get's digest line, the last of the body.
func readDigestLine(body *bufio.Reader) (imageref.Digest, error) {
	line := make([]byte, importer.DigestLine)
	if _, err := io.ReadFull(body, line); err != nil {
		return "", fmt.Errorf("bad request: no digest line: %w", err)
	}
	if line[len(line)-1] != '\n' {
		return "", errors.New("bad request: the digest line does not end the request")
	}
	if _, err := body.ReadByte(); err != io.EOF {
		return "", errors.New("bad request: bytes after the digest line")
	}
	return imageref.ParseDigest(string(line[:len(line)-1]))
}

// fetchedFunc gives what the URI named, read before the digest came; nil
// (or a nil answer) when nothing was.
type fetchedFunc func(context.Context) *Fetched

// answer streams a get's Events.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, req importer.Request, h Holder, f fetchedFunc, start time.Time) {
	log := s.Log.With(zap.Uint32("uid", h.UID), zap.String("job", h.Job+"."+h.Step), zap.String("uri", req.URI))
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	// send writes an Event; a progress line is flushed at once, the last
	// one (the path or the error) goes when the handler returns, with the
	// headers when nothing went before it: one write, with a length.
	send := func(e importer.Event, last bool) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeWithin))
		if err := json.NewEncoder(w).Encode(e); err != nil {
			return false
		}
		return last || rc.Flush() == nil
	}
	p := &Progress{}
	type result struct {
		path string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		path, err := s.get(r.Context(), req, h, p, f)
		done <- result{path, err}
	}()
	t := time.NewTicker(importer.HeartbeatEvery)
	defer t.Stop()
	for {
		select {
		case res := <-done:
			if res.err != nil {
				log.Warn("image cache cannot serve; the importer falls back to the user's own import", zap.Error(res.err))
				send(importer.Event{Error: res.err.Error()}, true)
				return
			}
			log.Info("served a cached image", zap.String("path", res.path), zap.Duration("took", time.Since(start)))
			send(importer.Event{Path: res.path}, true)
			return
		case <-t.C:
			state, n := p.Snapshot()
			if !send(importer.Event{State: state, Progress: n}, false) {
				return // the importer went away; get sees the context end
			}
		}
	}
}

// get verifies what the user asked for with the agent's credentials, then
// holds the verified digest (within the user's bounds) before it is
// imported, so eviction cannot take the new image between its import and
// its use. A get whose importer went away releases its hold; the import
// goes on for the next job. A request that failed is answered from memory
// for a while.
func (s *Server) get(ctx context.Context, req importer.Request, h Holder, p *Progress, f fetchedFunc) (string, error) {
	im, err := imageref.ParseURI(req.URI)
	if err != nil {
		return "", err
	}
	d, err := imageref.ParseDigest(req.Digest)
	if err != nil {
		return "", err
	}
	if err := s.Cache.untrusted(); err != nil {
		return "", err
	}
	key := failureKey(im, d)
	if err := s.Cache.guard.recent(key); err != nil {
		s.Cache.Stats.refused("failed_recently")
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, s.Cache.ImportTimeout+time.Minute)
	defer cancel()
	path, err := s.serve(ctx, im, d, h, p, f)
	switch {
	case err == nil:
		return path, nil
	case errors.Is(err, errLimit):
		s.Cache.Stats.refused("user_limit")
	case errors.Is(err, errNoRoom):
		s.Cache.Stats.refused("no_room")
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		err = fmt.Errorf("import still running after images.import_timeout: %w", err)
	case ctx.Err() == nil: // not the importer going away
		s.Cache.guard.fail(key, err)
	}
	return "", err
}

func (s *Server) serve(ctx context.Context, im imageref.Image, d imageref.Digest, h Holder, p *Progress, f fetchedFunc) (string, error) {
	p.Set("verifying")
	var fetched *Fetched
	if f != nil {
		fetched = f(ctx)
	}
	v, err := s.Cache.Registry.VerifyFetched(ctx, im, d, fetched)
	if err != nil {
		return "", err
	}
	if err := s.Cache.admitHold(v, h); err != nil {
		return "", err
	}
	path, err := s.Cache.Get(ctx, v, p, h.UID)
	if err != nil {
		s.Cache.Store.dropHold(v.Digest, s.Cache.Node, h)
		return "", err
	}
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("internal: relative path %q", path)
	}
	return path, nil
}
