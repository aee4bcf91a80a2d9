package install

import (
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/enroot-agent/enroot-agent/pkg/artifact"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
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

// Node is what the install steps share about the host: where it is rooted,
// what it runs, and how to reach its package manager.
type Node struct {
	Root config.Root
	Log  *zap.Logger
	// Run executes package-manager commands; nil means the real exec.
	Run Runner
	// Machine reports `uname -m`; nil means the running kernel's.
	Machine func() string

	once     sync.Once
	platform Platform
	err      error
}

// Platform detects the distribution from <root>/etc/os-release once.
func (n *Node) Platform() (Platform, error) {
	n.once.Do(func() {
		data, err := os.ReadFile(n.Root.Path("/etc/os-release"))
		if err != nil {
			// os-release(5): /usr/lib/os-release is the fallback.
			data, err = os.ReadFile(n.Root.Path("/usr/lib/os-release"))
		}
		if err != nil {
			n.err = err
			return
		}
		n.platform, n.err = Detect(string(data), n.machine())
	})
	return n.platform, n.err
}

// PackageManager is the real package manager of the detected platform.
func (n *Node) PackageManager() (PackageManager, error) {
	p, err := n.Platform()
	if err != nil {
		return nil, err
	}
	return NewPackageManager(p, n.Root, n.Run), nil
}

// HasGPU reports an NVIDIA GPU with its driver loaded.
func (n *Node) HasGPU() bool {
	for _, p := range []string{"/proc/driver/nvidia/version", "/dev/nvidiactl"} {
		if _, err := os.Stat(n.Root.Path(p)); err == nil {
			return true
		}
	}
	return false
}

func (n *Node) machine() string {
	if n.Machine != nil {
		return n.Machine()
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return strings.TrimRight(string(u.Machine[:]), "\x00")
}
