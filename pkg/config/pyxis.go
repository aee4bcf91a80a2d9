package config

import (
	"maps"
	"path/filepath"
	"slices"
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

// pyxisArg is one argument Pyxis accepts on its plugstack line (config.c's
// pyxis_config_parse). Pyxis refuses an unknown argument or a bad value at
// plugin init, and then every srun, sbatch and salloc on the node fails: so
// both are config errors here, long before the line reaches a plugstack.
type pyxisArg struct {
	name  string
	since version.V                 // first Pyxis release that accepts it
	check func(value string) string // "" when fine, else what is wrong
}

// pyxisArgs are the arguments Pyxis knows. A slice, not a map: the compiler
// lays it out in the binary, where a map is built by the package's init.
var pyxisArgs = []pyxisArg{
	{name: "container_scope", check: containerScope},
	{name: "execute_entrypoint", check: pyxisBool},
	{name: "importer", since: version.V{0, 21, 0}, check: absolutePath},
	{name: "runtime_path", check: absolutePath},
	{name: "sbatch_support", check: pyxisBool},
	{name: "use_enroot_load", check: pyxisBool},
	{name: "use_squashfuse", since: version.V{0, 22, 0}, check: pyxisBool},
}

// pyxisArgNamed is the argument called name, ok false when Pyxis has none.
func pyxisArgNamed(name string) (pyxisArg, bool) {
	for _, a := range pyxisArgs {
		if a.name == name {
			return a, true
		}
	}
	return pyxisArg{}, false
}

// validatePyxisArgs checks each argument against what the configured Pyxis
// version accepts. version is ok only when pyxis.version parsed.
func (p *problems) validatePyxisArgs(args map[string]string, v version.V, ok bool) {
	for _, key := range slices.Sorted(maps.Keys(args)) {
		path, value := "pyxis.args."+key, args[key]
		a, known := pyxisArgNamed(key)
		switch {
		case !known:
			p.addf(path, "Pyxis has no argument %q, and an unknown argument makes every srun on the node fail (known: %s)", key, pyxisArgNames())
		case ok && v.Less(a.since):
			p.addf(path, "needs Pyxis %s or newer; pyxis.version is %s", a.since, v)
		case strings.ContainsAny(value, " \t\n#"):
			// Slurm splits plugstack lines on blanks and cuts them at '#'.
			p.addf(path, "%q holds a blank or '#', which a plugstack line cannot carry", value)
		default:
			if msg := a.check(value); msg != "" {
				p.addf(path, "%q %s", value, msg)
			}
		}
	}
}

func pyxisBool(v string) string {
	switch v {
	case "1", "true", "yes", "y", "0", "false", "no", "n":
		return ""
	}
	return "is not a Pyxis boolean (1, true, yes, y, 0, false, no or n)"
}

// pyxisArgNames lists the arguments Pyxis knows, for an error.
func pyxisArgNames() string {
	var names []string
	for _, a := range pyxisArgs {
		names = append(names, a.name)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func containerScope(v string) string { return oneOf(v, "global", "job") }

func oneOf(v string, values ...string) string {
	if slices.Contains(values, v) {
		return ""
	}
	return "is not one of " + strings.Join(values, ", ")
}

// within reports whether path is dir or lies below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
