package config

import "github.com/enroot-agent/enroot-agent/internal/version"

// Pyxis says which Pyxis to build, against which Slurm, and how to wire it.
type Pyxis struct {
	Install          bool              `yaml:"install"`
	Version          string            `yaml:"version"`
	Source           string            `yaml:"source"`
	SHA256           string            `yaml:"sha256"`
	SlurmPrefix      string            `yaml:"slurm_prefix"`
	Libdir           string            `yaml:"libdir"`
	Plugstack        string            `yaml:"plugstack"`
	PlugstackManaged bool              `yaml:"plugstack_managed"`
	Args             map[string]string `yaml:"args"`
}

func defaultPyxis() Pyxis {
	return Pyxis{
		Install:          true,
		Version:          "0.24.0",
		Source:           "https://github.com/NVIDIA/pyxis/archive/refs/tags/v{version}.tar.gz",
		SlurmPrefix:      "/opt/slurm",
		Libdir:           "/usr/local/lib/slurm",
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
	p.absolute("pyxis.plugstack", x.Plugstack)
}
