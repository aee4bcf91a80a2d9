// Package config defines the agent's configuration: its types, the defaults
// that suit an AWS ParallelCluster compute node, loading from YAML with line
// numbers, and validation. It knows nothing of AWS or of the node's files.
package config

// DefaultPath is where the agent looks for its config when --config is not given.
const DefaultPath = "/etc/enroot-agent/config.yaml"

// Config is the whole, validated configuration. Treat it as immutable.
type Config struct {
	Enroot      Enroot      `yaml:"enroot"`
	Pyxis       Pyxis       `yaml:"pyxis"`
	ECR         ECR         `yaml:"ecr"`
	Credentials Credentials `yaml:"credentials"`
	Secrets     Secrets     `yaml:"secrets"`
	Verify      Verify      `yaml:"verify"`
	Converge    Converge    `yaml:"converge"`
	Images      Images      `yaml:"images"`
	// StateDir holds what the agent records between runs (node-local).
	StateDir string `yaml:"state_dir"`
	// CacheDir holds downloads; deleting it only costs a download.
	CacheDir string `yaml:"cache_dir"`
}

// Default returns the configuration used for every key the file leaves out.
// Each section's defaults live beside its type, in the section's own file.
func Default() Config {
	return Config{
		Enroot:      defaultEnroot(),
		Pyxis:       defaultPyxis(),
		ECR:         defaultECR(),
		Credentials: defaultCredentials(),
		Secrets:     defaultSecrets(),
		Verify:      defaultVerify(),
		Converge:    defaultConverge(),
		Images:      defaultImages(),
		StateDir:    "/var/lib/enroot-agent",
		CacheDir:    "/var/cache/enroot-agent",
	}
}
