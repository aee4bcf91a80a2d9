package accel

import (
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// Checks look at what a multi-node job needs inside its container on this
// node: the hooks that give its ranks their rendezvous variables.
func Checks(cfg config.Config, root config.Root) []verify.Check {
	return []verify.Check{
		HooksCheck(cfg.Enroot.Hooks, root),
	}
}
