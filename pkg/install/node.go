package install

import (
	"os"
	"strings"
	"sync"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

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
