package credentials

import (
	"context"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"go.uber.org/zap"
)

// registries are the configured ones, or this node's own (asked once).
func (r *Refresher) registries(ctx context.Context) ([]config.Registry, error) {
	r.mu.Lock()
	regs := r.regs
	r.mu.Unlock()
	if len(regs) > 0 {
		return regs, nil
	}
	src, err := r.source(ctx)
	if err != nil {
		return nil, err
	}
	reg, err := src.NodeRegistry(ctx)
	if err != nil {
		return nil, err
	}
	r.log.Info("no ecr.registries configured: using this node's account registry", zap.String("registry", reg.Host))
	r.mu.Lock()
	r.regs = []config.Registry{reg}
	r.mu.Unlock()
	return r.regs, nil
}

func (r *Refresher) source(ctx context.Context) (TokenSource, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Source == nil {
		src, err := NewSDKSource(ctx)
		if err != nil {
			return nil, err
		}
		r.Source = src
	}
	return r.Source, nil
}

// byRegion groups registries so each region costs one call per refresh,
// and one more per role assumed there: a role's token serves only the
// registries that name it.
func byRegion(regs []config.Registry) [][]config.Registry {
	var out [][]config.Registry
	index := map[string]int{}
	for _, g := range regs {
		key := g.Region + " " + g.RoleARN
		i, ok := index[key]
		if !ok {
			i = len(out)
			index[key] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], g)
	}
	return out
}
