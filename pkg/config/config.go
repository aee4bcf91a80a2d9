// Package config defines the agent's configuration: its types, the defaults
// that suit an AWS ParallelCluster compute node, loading from YAML with line
// numbers, and validation. It knows nothing of AWS or of the node's files.
package config

import "time"

// DefaultPath is where the agent looks for its config when --config is not given.
const DefaultPath = "/etc/enroot-agent/config.yaml"

// Config is the whole, validated configuration. Treat it as immutable.
type Config struct {
	Enroot      Enroot      `yaml:"enroot"`
	Pyxis       Pyxis       `yaml:"pyxis"`
	ECR         ECR         `yaml:"ecr"`
	Credentials Credentials `yaml:"credentials"`
	Verify      Verify      `yaml:"verify"`
	// StateDir holds what the agent records between runs (node-local).
	StateDir string `yaml:"state_dir"`
	// CacheDir holds downloads; deleting it only costs a download.
	CacheDir string `yaml:"cache_dir"`
}

// Enroot says which enroot to install and how to configure it.
type Enroot struct {
	Install          bool              `yaml:"install"`
	Version          string            `yaml:"version"`
	Flavor           string            `yaml:"flavor"`
	Source           string            `yaml:"source"`
	Checksums        map[string]string `yaml:"checksums"`
	RequireChecksums bool              `yaml:"require_checksums"`
	Conf             map[string]string `yaml:"conf"`
}

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

// ECR lists the registries to keep credentials for and when to refresh them.
type ECR struct {
	Registries          []Registry `yaml:"registries"`
	RefreshInterval     Duration   `yaml:"refresh_interval"`
	RefreshBeforeExpiry Duration   `yaml:"refresh_before_expiry"`
}

// Credentials says where registry credentials are written and for whom.
type Credentials struct {
	Group string           `yaml:"group"`
	Files []CredentialFile `yaml:"files"`
}

// CredentialFile is an extra netrc file kept like the default one.
type CredentialFile struct {
	Path  string `yaml:"path"`
	Owner string `yaml:"owner"`
	Group string `yaml:"group"`
	Mode  Mode   `yaml:"mode"`
}

// Verify configures the health checks and their HTTP endpoint.
type Verify struct {
	Listen string `yaml:"listen"`
}

// Default returns the configuration used for every key the file leaves out.
func Default() Config {
	return Config{
		Enroot: Enroot{
			Install: true,
			Version: "4.1.2",
			Flavor:  "caps",
			Source:  "https://github.com/NVIDIA/enroot/releases/download/v{version}/",
		},
		Pyxis: Pyxis{
			Install:          true,
			Version:          "0.24.0",
			Source:           "https://github.com/NVIDIA/pyxis/archive/refs/tags/v{version}.tar.gz",
			SlurmPrefix:      "/opt/slurm",
			Libdir:           "/usr/local/lib/slurm",
			Plugstack:        "/opt/slurm/etc/plugstack.conf",
			PlugstackManaged: true,
		},
		ECR: ECR{
			RefreshInterval:     Duration(6 * time.Hour),
			RefreshBeforeExpiry: Duration(2 * time.Hour),
		},
		Verify:   Verify{Listen: "127.0.0.1:9464"},
		StateDir: "/var/lib/enroot-agent",
		CacheDir: "/var/cache/enroot-agent",
	}
}
