package pyxis

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/enroot-agent/enroot-agent/pkg/converge"
)

// The Pyxis steps' names, as Requires and the reports spell them.
const (
	StepFetch     = "pyxis-fetch"
	StepBuild     = "pyxis-build"
	StepPlugstack = "pyxis-plugstack"
	StepRestart   = "slurmd-restart"
)

// FetchStep downloads and verifies the Pyxis tarball, only when a build is
// needed: a node whose plugin matches its Slurm downloads nothing.
type FetchStep struct{ B *Builder }

func (s *FetchStep) Name() string { return StepFetch }

// RunsEarly: the download only fills the agent's cache, so the runner starts
// it beside the Enroot install (converge.Early).
func (s *FetchStep) RunsEarly() bool { return true }

// A node that will copy another node's shared build downloads nothing
// either.
func (s *FetchStep) Plan(ctx context.Context) (*converge.Plan, error) {
	why, sl, err := s.B.stale(ctx)
	if err != nil || why == "" || s.B.fromShared(sl) != "" {
		return &converge.Plan{}, err
	}
	if err := s.B.canBuild(why, sl); err != nil {
		return nil, err
	}
	return converge.NewPlan(why, []converge.Change{{Action: "fetch", Target: s.B.source()}}, s.B.fetch), nil
}

// BuildStep compiles Pyxis against the node's Slurm and installs the plugin.
type BuildStep struct{ B *Builder }

func (s *BuildStep) Name() string       { return StepBuild }
func (s *BuildStep) Requires() []string { return []string{StepFetch} }

// It copies the shared build for the node's key when there is one: no
// compiler is needed then.
func (s *BuildStep) Plan(ctx context.Context) (*converge.Plan, error) {
	why, sl, err := s.B.stale(ctx)
	if err != nil || why == "" {
		return &converge.Plan{}, err
	}
	plugin := s.B.Root.Path(filepath.Join(s.B.Cfg.Libdir, PluginName))
	apply := func(ctx context.Context) error { return s.B.build(ctx, sl) }
	if entry := s.B.fromShared(sl); entry != "" {
		return converge.NewPlan(why, []converge.Change{{Action: "copy", Target: filepath.Join(entry, PluginName) + " to " + plugin + " (sha256 checked)"}}, apply), nil
	}
	if err := s.B.canBuild(why, sl); err != nil {
		return nil, err
	}
	changes := []converge.Change{
		{Action: "run", Target: fmt.Sprintf("make (pyxis %s against Slurm %s, headers in %s)", s.B.Cfg.Version, sl.Version, sl.Include)},
		{Action: "write", Target: plugin},
	}
	if s.B.Shared != nil {
		changes = append(changes, converge.Change{Action: "publish", Target: s.B.Shared.Entry(Key(s.B.Cfg, s.B.Root, sl)) + " (when no other node has, and this one may write there)"})
	}
	return converge.NewPlan(why, changes, apply), nil
}
