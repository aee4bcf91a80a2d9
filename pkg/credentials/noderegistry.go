package credentials

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"go.uber.org/zap"
)

// With ecr.registries empty the registry is the node's own account's, in
// its region, from the instance identity document (IMDSv2). That document
// cannot change while the instance runs, and reading it costs an AWS
// helper process (package awsproc), so the answer is remembered for the
// boot in state_dir/node-registry, keyed by the kernel's boot id: every
// later `apply`, `refresh` or restarted daemon of the same boot uses it,
// and a new boot (an image baked from this node, a stopped and started
// instance) asks IMDS again.

// nodeRegistryPath is the file the node's registry is remembered in.
func nodeRegistryPath(cfg config.Config, root config.Root) string {
	return filepath.Join(root.Path(cfg.StateDir), "node-registry")
}

// bootIDPath is the kernel's id of this boot, the same under any --root.
const bootIDPath = "/proc/sys/kernel/random/boot_id"

func bootID() string {
	b, err := os.ReadFile(bootIDPath)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// parseNodeRegistry reads "<boot id> <registry host>\n": the registry when
// it was recorded in boot.
func parseNodeRegistry(data, boot string) (config.Registry, bool) {
	id, host, ok := strings.Cut(strings.TrimSuffix(data, "\n"), " ")
	if !ok || boot == "" || id != boot {
		return config.Registry{}, false
	}
	reg, err := config.ParseRegistry(host)
	if err != nil {
		return config.Registry{}, false
	}
	return reg, true
}

// rememberedNodeRegistry is the node's registry recorded in this boot.
func (r *Refresher) rememberedNodeRegistry() (config.Registry, bool) {
	data, err := atomicfile.ReadFile(r.nodeRegPath)
	if err != nil {
		return config.Registry{}, false
	}
	return parseNodeRegistry(string(data), r.boot())
}

// rememberNodeRegistry records reg for the rest of the boot. A failure
// only costs the next process an IMDS call.
func (r *Refresher) rememberNodeRegistry(reg config.Registry) {
	boot := r.boot()
	if boot == "" {
		return
	}
	_, err := atomicfile.EnsureDir(filepath.Dir(r.nodeRegPath), atomicfile.Options{Mode: 0o700, UID: -1, GID: -1})
	if err == nil {
		_, err = atomicfile.Write(r.nodeRegPath, []byte(boot+" "+reg.Host+"\n"), atomicfile.Options{Mode: 0o600, UID: -1, GID: -1})
	}
	if err != nil {
		r.log.Warn("cannot remember the node's registry for this boot; the next process asks IMDS again", zap.Error(err))
	}
}
