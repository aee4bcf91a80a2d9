// Package agent wires the configuration to the steps, the credentials
// refresher and the checks, and holds the daemon: its event loop, the HTTP
// endpoints, the metrics and the drain policy.
package agent

import (
	"path/filepath"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/accel"
	"github.com/enroot-agent/enroot-agent/pkg/artifact"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/credentials/probe"
	"github.com/enroot-agent/enroot-agent/pkg/install"
	"github.com/enroot-agent/enroot-agent/pkg/pyxis"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
	"go.uber.org/zap"
)

// Env is what every step needs to find and change the host, and what the
// steps and checks built from it share between runs. NewEnv builds it; the
// daemon builds one per config and keeps it while that config runs.
type Env struct {
	Config config.Config
	Root   config.Root
	Log    *zap.Logger
	// Probes keeps the latest registry probe for the metrics: the daemon
	// holds one for its life; nil (verify, apply) keeps nothing.
	Probes *probe.Record
	// Slurm keeps srun's answer to --version for the Pyxis build steps and
	// checks: a converged node starts no process to converge or check.
	Slurm *slurm.Detector
	// Restarts keeps a pending slurmd restart from being logged at every
	// converge.
	Restarts *pyxis.RestartWarnings
}

// NewEnv is the Env of one config: the one place the state its steps and
// checks share is made.
func NewEnv(cfg config.Config, root config.Root, log *zap.Logger) Env {
	return Env{Config: cfg, Root: root, Log: log, Slurm: slurm.NewDetector(), Restarts: &pyxis.RestartWarnings{}}
}

// Steps lists, in order, everything that makes up a converged node.
func Steps(env Env) []converge.Step {
	c, root := env.Config, env.Root
	steps := []converge.Step{
		// State can hold tokens' metadata and build records: root only.
		&converge.Dir{StepName: "state-dir", Path: root.Path(c.StateDir), Opts: atomicfile.Options{Mode: 0o700, UID: -1, GID: -1}},
		&converge.Dir{StepName: "cache-dir", Path: root.Path(c.CacheDir), Opts: atomicfile.Options{Mode: 0o700, UID: -1, GID: -1}},
	}
	// Enroot: prerequisites, packages, sysctl, enroot.conf directories, enroot.conf.
	steps = append(steps, install.Steps(c, &install.Node{Root: root, Log: env.Log})...)
	// Enroot's Slurm hooks, from the package the step before installed.
	steps = append(steps, &accel.HooksStep{Hooks: c.Enroot.Hooks, Root: root, Log: env.Log, Needs: []string{install.StepPackages}})
	return append(steps, pyxisSteps(env)...)
}

// pyxisSteps: fetch → build → plugstack → slurmd's PATH → slurmd restart. Without
// pyxis.install the plugin must already be in pyxis.libdir, and only the
// plugstack and the restart are kept.
func pyxisSteps(env Env) []converge.Step {
	c, root := env.Config, env.Root
	var steps []converge.Step
	if c.Pyxis.Install {
		b := &pyxis.Builder{
			Cfg: c.Pyxis, Root: root, StateDir: c.StateDir, CacheDir: c.CacheDir, Log: env.Log, Slurm: env.Slurm,
			Fetcher: artifact.New(root.Path(filepath.Join(c.CacheDir, "pyxis")), env.Log),
			Shared:  pyxis.NewShared(c.Pyxis, root, env.Log),
		}
		steps = append(steps, &pyxis.FetchStep{B: b}, &pyxis.BuildStep{B: b})
	}
	steps = append(steps, &pyxis.Plugstack{Cfg: c.Pyxis, Root: root, Log: env.Log})
	// Enroot's Slurm hooks run scontrol with slurmd's PATH; slurmd reads it
	// only when it starts, so its restart follows.
	path := accel.SlurmdPath(c, root)
	if path != nil {
		steps = append(steps, path)
	}
	return append(steps, &pyxis.RestartStep{Cfg: c.Pyxis, Root: root, StateDir: c.StateDir, Log: env.Log,
		Connect: slurm.DefaultConnect, Env: path, Warned: env.Restarts})
}
