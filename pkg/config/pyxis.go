package config

import (
	"path/filepath"
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/version"
)

// Pyxis says which Pyxis to build, against which Slurm, and how to wire it.
type Pyxis struct {
	Install          bool              `yaml:"install"`
	Version          string            `yaml:"version"`
	Source           string            `yaml:"source"`
	SHA256           string            `yaml:"sha256"`
	SlurmPrefix      string            `yaml:"slurm_prefix"`
	Libdir           string            `yaml:"libdir"`
	SharedDir        string            `yaml:"shared_dir"`
	Plugstack        string            `yaml:"plugstack"`
	PlugstackManaged bool              `yaml:"plugstack_managed"`
	Args             map[string]string `yaml:"args"`
}

func defaultPyxis() Pyxis {
	return Pyxis{
		Install:     true,
		Version:     "0.24.0",
		Source:      "https://github.com/NVIDIA/pyxis/archive/refs/tags/v{version}.tar.gz",
		SlurmPrefix: "/opt/slurm",
		Libdir:      "/usr/local/lib/slurm",
		// Inside the Slurm install ParallelCluster's head node exports to
		// every node: the head node, configured first, builds Pyxis there
		// once per Slurm release and the compute nodes copy it.
		SharedDir:        "/opt/slurm/lib/enroot-agent",
		Plugstack:        "/opt/slurm/etc/plugstack.conf",
		PlugstackManaged: true,
	}
}

func (p *problems) validatePyxis(x *Pyxis) {
	v, ok := version.Parse(x.Version)
	if !ok {
		p.addf("pyxis.version", "%q is not a version like 0.24.0", x.Version)
	}
	p.validatePyxisArgs(x.Args, v, ok)
	p.source("pyxis.source", x.Source)
	if x.SHA256 != "" {
		p.digest("pyxis.sha256", x.SHA256)
	}
	p.absolute("pyxis.slurm_prefix", x.SlurmPrefix)
	p.absolute("pyxis.libdir", x.Libdir)
	if x.SharedDir != "" {
		p.absolute("pyxis.shared_dir", x.SharedDir)
		if within(x.SharedDir, x.Libdir) || within(x.Libdir, x.SharedDir) {
			p.addf("pyxis.shared_dir", "%q overlaps pyxis.libdir %q: keep the node-local plugin and the shared builds apart (\"\" turns sharing off)", x.SharedDir, x.Libdir)
		}
	}
	p.absolute("pyxis.plugstack", x.Plugstack)
}

// within reports whether path is dir or lies below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
