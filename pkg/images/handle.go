package images

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/imageref"

	"go.uber.org/zap"
)

// handle answers one request from the importer running as h.
func (s *Server) handle(req request, h Holder) response {
	log := s.Log.With(zap.Uint32("uid", h.UID), zap.String("job", h.Job+"."+h.Step))
	switch req.Op {
	case "get":
		if err := s.authorize(h.UID); err != nil {
			log.Warn("image cache refused a user", zap.String("uri", req.URI), zap.Error(err))
			return response{Error: err.Error()}
		}
		path, err := s.get(req, h)
		if err != nil {
			log.Warn("image cache cannot serve; the importer falls back to the user's own import", zap.String("uri", req.URI), zap.Error(err))
			return response{Error: err.Error()}
		}
		log.Info("served a cached image", zap.String("uri", req.URI), zap.String("path", path))
		return response{Path: path}
	case "release":
		if _, err := s.Cache.Store.Release(s.Cache.Node, h); err != nil {
			return response{Error: err.Error()}
		}
		return response{}
	}
	return response{Error: fmt.Sprintf("unknown op %q", req.Op)}
}

// get verifies what the user asked for with the agent's credentials, then
// holds the verified digest before it is imported, so eviction cannot take
// the new image between its import and its use.
func (s *Server) get(req request, h Holder) (string, error) {
	im, err := imageref.ParseURI(req.URI)
	if err != nil {
		return "", err
	}
	d, err := imageref.ParseDigest(string(req.Digest))
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.Cache.ImportTimeout+time.Minute)
	defer cancel()
	v, err := s.Cache.Registry.Verify(ctx, im, d)
	if err != nil {
		return "", err
	}
	if err := s.Cache.Store.Hold(v.Digest, s.Cache.Node, h); err != nil {
		return "", err
	}
	path, err := s.Cache.Get(ctx, v)
	if err != nil {
		_, _ = s.Cache.Store.Release(s.Cache.Node, h)
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("import still running after images.import_timeout: %w", err)
		}
	}
	return path, err
}
