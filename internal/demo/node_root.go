package main

import (
	"os"
	"path/filepath"

	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
	"github.com/enroot-agent/enroot-agent/internal/fake/slurm"
)

// prepareRoot makes the sandbox look like an Ubuntu node with Slurm: a dpkg
// database with Enroot's prerequisites, and this machine's Slurm headers,
// srun and scontrol under the sandbox's /usr.
func (n *node) prepareRoot() error {
	if err := pkgrepo.MakeDebRoot(n.root); err != nil {
		return err
	}
	for link, target := range map[string]string{n.root + "/usr/include": "/usr/include", n.root + "/usr/bin/srun": "/usr/bin/srun",
		n.root + "/usr/bin/scontrol": "/usr/bin/scontrol"} {
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(target, link); err != nil {
			return err
		}
	}
	// A kernel that still has user namespaces switched off, as some AMIs do:
	// the agent's sysctl step turns them on.
	return writeAll(n.root+"/proc/sys/user", map[string]string{"max_user_namespaces": "0\n", "max_mnt_namespaces": "0\n"})
}

// prepareSlurm links the host's Slurm directory into the sandbox and writes
// a slurm.conf and a plugstack.conf with an admin's line the agent must keep.
func (n *node) prepareSlurm() error {
	for _, d := range []string{"etc", "lib"} {
		inRoot := filepath.Join(n.root, n.slurm, d)
		if err := os.MkdirAll(inRoot, 0o755); err != nil {
			return err
		}
		if err := os.Symlink(inRoot, filepath.Join(n.slurm, d)); err != nil {
			return err
		}
	}
	if err := writeAll(n.slurm+"/etc", map[string]string{"plugstack.conf": "# site SPANK plugins (an admin's line, kept by every apply)\n"}); err != nil {
		return err
	}
	var err error
	n.slurmConf, err = slurm.Conf(n.slurm+"/etc", n.slurm+"/etc/plugstack.conf")
	return err
}

func writeAll(dir string, files map[string]string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			return err
		}
	}
	return nil
}
