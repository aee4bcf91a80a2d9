package install

import (
	"path/filepath"

	"github.com/enroot-agent/enroot-agent/pkg/artifact"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
)

// Enroot's steps' names, as Requires and the reports spell them.
const (
	StepPrereqs  = "enroot-prereqs"
	StepPackages = "enroot-packages"
	StepSysctl   = "enroot-sysctl"
	StepDirs     = "enroot-dirs"
	StepTmpfiles = "enroot-tmpfiles"
	StepConf     = "enroot-conf"
)

// Steps lists Enroot's steps in order: the packages (which install the
// missing prerequisites with their own dependencies, in one command), the
// prerequisites (kept installed once Enroot is current; they require the
// packages), the kernel settings, the directories enroot.conf names, and
// enroot.conf. enroot.conf comes after the packages, so that a package
// shipping its own default enroot.conf is corrected in the same run; it does
// not require them, so it is written even when the install fails or is off.
// Without enroot.install there are no prerequisites to install, and the
// package step only checks.
func Steps(cfg config.Config, node *Node) []converge.Step {
	conf := MergeConf(cfg.Enroot.Conf, cfg.Credentials.EnrootConfigPath)
	fetcher := artifact.New(node.Root.Path(filepath.Join(cfg.CacheDir, "enroot")), node.Log)
	steps := []converge.Step{&PackagesStep{Node: node, Cfg: cfg.Enroot, Fetcher: fetcher,
		Record: node.Root.Path(filepath.Join(cfg.StateDir, RecordFile))}}
	if cfg.Enroot.Install {
		steps = append(steps, &PrereqStep{Node: node})
	}
	return append(steps,
		&SysctlStep{Node: node},
		&DirsStep{Node: node, Conf: conf},
		TmpfilesStep(node, conf),
		&ConfStep{Node: node, Conf: conf},
	)
}
