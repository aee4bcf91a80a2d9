package config

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written the Go way in YAML: "6h", "90m".
type Duration time.Duration

func (d *Duration) decodeNode(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return fmt.Errorf("%q is not a duration (write it like 6h or 90m)", n.Value)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// Mode is a file mode written in octal in YAML: "0600". Quote it: YAML reads
// an unquoted 0600 as the octal integer 384, which is accepted as well.
type Mode os.FileMode

func (m *Mode) decodeNode(n *yaml.Node) error {
	v, err := strconv.ParseUint(n.Value, 8, 32)
	if n.Tag == "!!int" && err != nil {
		v, err = strconv.ParseUint(n.Value, 0, 32)
	}
	if err != nil || v > 0o7777 {
		return fmt.Errorf("%q is not a file mode (write it in octal, like \"0600\")", n.Value)
	}
	*m = Mode(v)
	return nil
}

// FileMode returns the value as an os.FileMode.
func (m Mode) FileMode() os.FileMode { return os.FileMode(m) }

func (m Mode) String() string { return fmt.Sprintf("%04o", uint32(m)) }

// Registry is an ECR registry host, parsed and checked when the config loads
// (ecr_role.go decodes it).
type Registry struct {
	Host      string
	Account   string
	Region    string
	FIPS      bool
	DualStack bool
	Suffix    string
	// RoleARN, when set, is assumed (STS AssumeRole) for this registry's
	// token alone: a registry in another account whose repository policy
	// does not trust the node's own role.
	RoleARN string
}

func (r Registry) String() string { return r.Host }
