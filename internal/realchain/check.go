package realchain

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/fake/registry"
)

// preflight fails, naming what to install or enable, when this
// machine cannot run the chain.
func preflight() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the real chain installs Enroot on this machine and creates a user: run it as root")
	}
	tools := map[string]string{"srun": "slurm-client", "slurmd": "slurmd", "slurmctld": "slurmctld", "munged": "munge",
		registry.Binary: "docker-registry", "htpasswd": "apache2-utils", "useradd": "passwd", "runuser": "util-linux",
		"unshare": "util-linux", "dpkg": "dpkg", "apt-get": "apt", "cc": "build-essential", "make": "make"}
	for tool, pkg := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: install the Debian package %s (scripts/test-deps.sh)", tool, pkg)
		}
	}
	if _, err := os.Stat("/usr/include/slurm/spank.h"); err != nil {
		return fmt.Errorf("/usr/include/slurm/spank.h: install libslurm-dev (scripts/test-deps.sh)")
	}
	// Enroot runs containers in user namespaces created by the job's user.
	if out, err := exec.Command("runuser", "-u", "nobody", "--", "unshare", "-U", "true").CombinedOutput(); err != nil {
		return fmt.Errorf("a non-root user cannot create a user namespace (unshare -U true as nobody: %v: %s), and enroot needs one: "+
			"set user.max_user_namespaces > 0 (and kernel.unprivileged_userns_clone=1 or the AppArmor userns restriction off where they exist)",
			err, strings.TrimSpace(string(out)))
	}
	return nil
}
