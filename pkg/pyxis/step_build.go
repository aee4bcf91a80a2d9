package pyxis

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
)

// FetchStep downloads and verifies the Pyxis tarball, only when a build is
// needed: a node whose plugin matches its Slurm downloads nothing.
type FetchStep struct{ B *Builder }

func (s *FetchStep) Name() string { return "pyxis-fetch" }

// RunsEarly: the download only fills the agent's cache, so the runner starts
// it beside the Enroot install (converge.Early).
func (s *FetchStep) RunsEarly() bool { return true }

func (s *FetchStep) Plan(ctx context.Context) (*converge.Plan, error) {
	why, _, err := s.B.stale(ctx)
	if err != nil || why == "" {
		return &converge.Plan{}, err
	}
	return &converge.Plan{Reason: why, Changes: []converge.Change{{Action: "fetch", Target: s.B.source()}}}, nil
}

func (s *FetchStep) Apply(ctx context.Context, _ *converge.Plan) error { return s.B.fetch(ctx) }

// BuildStep compiles Pyxis against the node's Slurm and installs the plugin.
type BuildStep struct{ B *Builder }

func (s *BuildStep) Name() string       { return "pyxis-build" }
func (s *BuildStep) Requires() []string { return []string{"pyxis-fetch"} }

func (s *BuildStep) Plan(ctx context.Context) (*converge.Plan, error) {
	why, sl, err := s.B.stale(ctx)
	if err != nil || why == "" {
		return &converge.Plan{}, err
	}
	return &converge.Plan{
		Reason: why,
		Changes: []converge.Change{
			{Action: "run", Target: fmt.Sprintf("make (pyxis %s against Slurm %s, headers in %s)", s.B.Cfg.Version, sl.Version, sl.Include)},
			{Action: "write", Target: s.B.Root.Path(filepath.Join(s.B.Cfg.Libdir, PluginName))},
		},
		State: sl,
	}, nil
}

func (s *BuildStep) Apply(ctx context.Context, p *converge.Plan) error {
	return s.B.build(ctx, p.State.(slurm.Detected))
}
