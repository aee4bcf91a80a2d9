package accel

import (
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// slurmHooks are the hooks that run scontrol (with slurmd's PATH).
var slurmHooks = []string{"50-slurm-pmi.sh", "50-slurm-pytorch.sh"}

// SlurmdPath is the step that keeps Slurm's bin on slurmd's PATH, nil when
// enroot.hooks turns both Slurm hooks off and nothing needs it.
func SlurmdPath(cfg config.Config, root config.Root) *slurm.PathStep {
	for _, h := range slurmHooks {
		if cfg.Enroot.Hooks[h] {
			return &slurm.PathStep{Root: root, Prefix: cfg.Pyxis.SlurmPrefix}
		}
	}
	return nil
}

// Checks look at what a multi-node job needs inside its container on this
// node: the hooks that give its ranks their rendezvous variables, the PATH
// those hooks find scontrol on, and the node's devices seen from inside a
// container.
func Checks(cfg config.Config, root config.Root) []verify.Check {
	checks := []verify.Check{HooksCheck(cfg.Enroot.Hooks, root)}
	if SlurmdPath(cfg, root) != nil {
		checks = append(checks, slurm.PathCheck(root, cfg.Pyxis.SlurmPrefix))
	}
	probe := &Prober{Root: root, User: cfg.Verify.ContainerUser}
	return append(checks, ToolkitCheck(root, ExecRunner), SocketsCheck(root), ContainerCheck(root, probe.Start, ExecRunner))
}
