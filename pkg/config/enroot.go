package config

import (
	"slices"
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/lazyre"
	"github.com/enroot-agent/enroot-agent/internal/version"
)

// Enroot says which enroot to install and how to configure it.
type Enroot struct {
	Install bool   `yaml:"install"`
	Version string `yaml:"version"`
	// VersionPolicy is minimum (an installed enroot at or above Version is
	// kept: an image may ship a newer one) or exact (Version is installed,
	// downgrading if need be).
	VersionPolicy    string            `yaml:"version_policy"`
	Flavor           string            `yaml:"flavor"`
	Source           string            `yaml:"source"`
	Checksums        map[string]string `yaml:"checksums"`
	RequireChecksums bool              `yaml:"require_checksums"`
	Conf             map[string]string `yaml:"conf"`
	// Hooks turns on (true) or off (false) the optional hooks Enroot ships
	// in /usr/share/enroot/hooks.d, by file name; the agent copies the ones
	// that are on into /etc/enroot/hooks.d. Keys left out keep their default.
	Hooks map[string]bool `yaml:"hooks"`
}

func defaultEnroot() Enroot {
	return Enroot{
		Install:       true,
		Version:       "4.1.2",
		VersionPolicy: "minimum",
		Flavor:        "caps",
		Source:        "https://github.com/NVIDIA/enroot/releases/download/v{version}/",
		// Multi-node jobs need both: PMI/PMIx variables and mounts inside
		// the container, and PyTorch's MASTER_ADDR, MASTER_PORT, WORLD_SIZE.
		Hooks: map[string]bool{"50-slurm-pmi.sh": true, "50-slurm-pytorch.sh": true},
	}
}

// OptionalHooks are the hooks Enroot ships in /usr/share/enroot/hooks.d
// for admins to enable (4.1.2's .deb and .rpm); enroot.hooks names only these.
var OptionalHooks = []string{"50-mig-config.sh", "50-sharp.sh", "50-slurm-pmi.sh", "50-slurm-pytorch.sh"}

// enrootConfKey is what enroot reads from enroot.conf; it silently ignores
// any other key, so the agent rejects them instead.
var enrootConfKey = lazyre.New(`^(ENROOT_[A-Z0-9_]+|MELLANOX_[A-Z0-9_]+|NVIDIA_[A-Z0-9_]+|SSL_CERT_[A-Z_]+|[a-z]+_proxy)$`)

// ValidEnrootConfKey reports whether enroot reads key from enroot.conf.
func ValidEnrootConfKey(key string) bool { return enrootConfKey.MatchString(key) }

// minEnroot is the first enroot release that authenticates to ECR (enroot#143).
var minEnroot = version.V{3, 5, 0}

func (p *problems) validateEnroot(e *Enroot) {
	if v, ok := version.Parse(e.Version); !ok {
		p.addf("enroot.version", "%q is not a version like 4.1.2", e.Version)
	} else if v.Less(minEnroot) {
		p.addf("enroot.version", "%q is older than 3.5.0, the first enroot that can authenticate to ECR", e.Version)
	}
	if e.VersionPolicy != "minimum" && e.VersionPolicy != "exact" {
		p.addf("enroot.version_policy", "%q is not minimum or exact", e.VersionPolicy)
	}
	if e.Flavor != "caps" && e.Flavor != "plain" {
		p.addf("enroot.flavor", "%q is not caps or plain", e.Flavor)
	}
	p.source("enroot.source", e.Source)
	for name, sum := range e.Checksums {
		p.digest("enroot.checksums."+name, sum)
	}
	for name := range e.Hooks {
		if !slices.Contains(OptionalHooks, name) {
			p.addf("enroot.hooks."+name, "Enroot ships no optional hook of that name in /usr/share/enroot/hooks.d (it ships %s)", strings.Join(OptionalHooks, ", "))
		}
	}
	for key, val := range e.Conf {
		path := "enroot.conf." + key
		switch {
		case !ValidEnrootConfKey(key):
			p.addf(path, "enroot does not read this key (it reads ENROOT_*, MELLANOX_*, NVIDIA_*, SSL_CERT_* and *_proxy such as https_proxy)")
		case strings.ContainsAny(val, "\n\r\x00"):
			p.addf(path, "the value must be a single line")
		case strings.HasSuffix(key, "_PATH") && hasDotDot(val):
			// The agent makes the fixed part of these paths (mode 1777).
			p.addf(path, "%q has a .. element: write the path it means", val)
		}
	}
}
