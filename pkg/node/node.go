package node

import (
	"path/filepath"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/accel"
	"github.com/enroot-agent/enroot-agent/pkg/artifact"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/credentials"
	"github.com/enroot-agent/enroot-agent/pkg/credentials/probe"
	"github.com/enroot-agent/enroot-agent/pkg/images"
	"github.com/enroot-agent/enroot-agent/pkg/install"
	"github.com/enroot-agent/enroot-agent/pkg/pyxis"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"go.uber.org/zap"
)

// Node is the node under one config: its converge steps, its checks and
// the names of the checks a converge can repair, built once by New. What
// the steps and checks share between runs lives in the step objects
// themselves (srun's answer, a pending slurmd restart already warned
// about), so a Node lives exactly as long as its config: the daemon builds
// a new one on every reload, and `apply` or `verify` one per command.
type Node struct {
	steps      []converge.Step
	checks     []verify.Check
	repairable map[string]bool
	creds      map[string]bool
}

// Parts are what a Node is built from: the converge steps, the credentials
// checks (shown first after the steps' own, and restored before anything
// else when they fail) and the other domain checks.
type Parts struct {
	Steps       []converge.Step
	Credentials []verify.Check
	Domain      []verify.Check
}

// New builds the production node of cfg. probes keeps the registry
// probe's latest stages for the daemon's metrics; nil keeps nothing
// (verify, apply).
func New(cfg config.Config, root config.Root, log *zap.Logger, probes *probe.Record) *Node {
	sd := slurm.NewDetector(root.Path(filepath.Join(cfg.StateDir, slurm.KeepFile)))
	return Assemble(Parts{
		Steps:       steps(cfg, root, log, sd),
		Credentials: credentials.Checks(cfg, root, probes),
		Domain:      domainChecks(cfg, root, sd),
	})
}

// Assemble builds a Node from its parts: each step's own check first
// (StepCheck), then the credentials checks, then the domain checks. New
// assembles the production parts; the daemon's tests assemble their own.
func Assemble(p Parts) *Node {
	n := &Node{steps: p.Steps, repairable: map[string]bool{}, creds: map[string]bool{}}
	for _, s := range p.Steps {
		c := StepCheck(s)
		n.checks = append(n.checks, c)
		n.repairable[c.Name()] = true
	}
	for _, c := range p.Credentials {
		n.creds[c.Name()] = true
		n.repairable[c.Name()] = true
	}
	n.checks = append(n.checks, p.Credentials...)
	n.checks = append(n.checks, p.Domain...)
	return n
}

// Steps lists, in order, everything that makes up a converged node.
func (n *Node) Steps() []converge.Step { return n.steps }

// Checks lists every verify check, in the order they are shown. The first
// ones ask each converge step whether its work is done, through the very
// step objects apply uses, so verify and apply cannot disagree about what a
// converged node is. Domain checks (credentials, enroot, pyxis) follow.
func (n *Node) Checks() []verify.Check { return n.checks }

// Repairable names the checks a converge (and the credentials files'
// rewrite after it) can turn ok again: each step's own check and the
// credentials checks. Their failure starts a drift repair.
func (n *Node) Repairable() map[string]bool { return n.repairable }

// Credentials names the checks about the credentials files: while one
// fails, the daemon restores the files before it drains or converges.
func (n *Node) Credentials() map[string]bool { return n.creds }

// steps: state and cache directories, Enroot, its Slurm hooks, Pyxis.
// Every step that asks srun shares sd, so a converged node starts no
// process to converge or check.
func steps(c config.Config, root config.Root, log *zap.Logger, sd *slurm.Detector) []converge.Step {
	steps := []converge.Step{
		// State can hold tokens' metadata and build records: root only.
		&converge.Dir{StepName: "state-dir", Path: root.Path(c.StateDir), Opts: atomicfile.Options{Mode: 0o700, UID: -1, GID: -1}},
		&converge.Dir{StepName: "cache-dir", Path: root.Path(c.CacheDir), Opts: atomicfile.Options{Mode: 0o700, UID: -1, GID: -1}},
	}
	// Enroot: prerequisites, packages, sysctl, enroot.conf directories, enroot.conf.
	steps = append(steps, install.Steps(c, &install.Node{Root: root, Log: log})...)
	// Enroot's Slurm hooks, from the package the step before installed.
	steps = append(steps, &accel.HooksStep{Hooks: c.Enroot.Hooks, Root: root, Log: log, Needs: []string{install.StepPackages}})
	return append(steps, pyxisSteps(c, root, log, sd)...)
}

// pyxisSteps: fetch → build → plugstack → slurmd's PATH → slurmd restart. Without
// pyxis.install the plugin must already be in pyxis.libdir, and only the
// plugstack and the restart are kept.
func pyxisSteps(c config.Config, root config.Root, log *zap.Logger, sd *slurm.Detector) []converge.Step {
	var steps []converge.Step
	if c.Pyxis.Install {
		b := &pyxis.Builder{
			Cfg: c.Pyxis, Root: root, StateDir: c.StateDir, CacheDir: c.CacheDir, Log: log, Slurm: sd,
			Fetcher: artifact.New(root.Path(filepath.Join(c.CacheDir, "pyxis")), log),
			Shared:  pyxis.NewShared(c.Pyxis, root, log),
		}
		steps = append(steps, &pyxis.FetchStep{B: b}, &pyxis.BuildStep{B: b})
	}
	steps = append(steps, &pyxis.Plugstack{Cfg: c.Pyxis, Root: root, Log: log})
	// Enroot's Slurm hooks run scontrol with slurmd's PATH; slurmd reads it
	// only when it starts, so its restart follows.
	path := accel.SlurmdPath(c, root)
	if path != nil {
		steps = append(steps, path)
	}
	// Warned keeps a pending slurmd restart from being logged at every
	// converge and check.
	return append(steps, &pyxis.RestartStep{Cfg: c.Pyxis, Root: root, StateDir: c.StateDir, Log: log,
		Connect: slurm.DefaultConnect, Env: path, Warned: &pyxis.RestartWarnings{}})
}

// domainChecks are the checks beyond each step's own and the credentials'.
func domainChecks(c config.Config, root config.Root, sd *slurm.Detector) []verify.Check {
	checks := install.Checks(c, root)
	checks = append(checks, accel.Checks(c, root)...)
	checks = append(checks, pyxis.Checks(c, root, sd)...)
	return append(checks, images.Checks(c, root)...)
}
