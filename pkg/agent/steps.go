// Package agent wires the configuration to the steps, the credentials
// refresher and the checks; later it also holds the daemon.
package agent

import (
	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"go.uber.org/zap"
)

// Env is what every step needs to find and change the host.
type Env struct {
	Config config.Config
	Root   config.Root
	Log    *zap.Logger
}

// Steps lists, in order, everything that makes up a converged node.
func Steps(env Env) []converge.Step {
	c, root := env.Config, env.Root
	return []converge.Step{
		// State can hold tokens' metadata and build records: root only.
		&converge.Dir{StepName: "state-dir", Path: root.Path(c.StateDir), Opts: atomicfile.Options{Mode: 0o700, UID: -1, GID: -1}},
		&converge.Dir{StepName: "cache-dir", Path: root.Path(c.CacheDir), Opts: atomicfile.Options{Mode: 0o700, UID: -1, GID: -1}},
	}
}
