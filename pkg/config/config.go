package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"time"
)

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

// Load reads and validates the config at path. A missing file at the default
// path means "all defaults", so a node runs with no config at all; a missing
// file the admin named explicitly is an error.
func Load(path string, explicit bool) (Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return Parse(filepath.Base(path), nil)
	}
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes data over the defaults and validates the result. name is
// used in error messages. The returned error is an Errors listing every
// problem with its line, a syntax error included.
func Parse(name string, data []byte) (Config, error) {
	c := Default()
	p := &problems{file: name, lines: map[string]int{}}
	root, err := p.document(data)
	if err != nil {
		return Config{}, err
	}
	if root != nil && len(root.Content) > 0 {
		p.decode(root, reflect.ValueOf(&c).Elem(), "")
	}
	p.validate(&c)
	if err := p.err(); err != nil {
		return Config{}, err
	}
	// Every consumer of the Pyxis line (the plugstack step, its check, the
	// restart record) sees the importer the cache needs.
	c.Pyxis.Args = c.PyxisArgs()
	return c, nil
}

// Root re-roots every host path the agent touches, so the real binary can run
// end to end inside a temp dir (tests, image builders, the demo). The config
// always holds host paths; only the code that opens a file maps it.
type Root string

// Path maps an absolute host path into the root. The path is cleaned as if
// the root were /, so no .. can climb out of it.
func (r Root) Path(hostPath string) string {
	if r == "" || r == "/" {
		return filepath.Clean(hostPath)
	}
	return filepath.Join(string(r), filepath.Clean("/"+hostPath))
}

// Converge configures how the daemon keeps the node converged after its
// start: drift (an edited enroot.conf, a removed plugin, an upgraded Slurm)
// is repaired, not only reported.
type Converge struct {
	// Interval between periodic converges, each stretched by a random tenth
	// so a fleet does not act in step; 0 turns them off (a failing step
	// check still starts a repair).
	Interval Duration `yaml:"interval"`
}

func defaultConverge() Converge {
	return Converge{Interval: Duration(30 * time.Minute)}
}

func (p *problems) validateConverge(c *Converge) {
	if c.Interval != 0 {
		p.between("converge.interval", c.Interval, time.Minute, 24*time.Hour, " (0 turns it off)")
	}
}
