package slurm

import (
	"fmt"
	"os"
	"strings"
)

// NodeName is this node's Slurm NodeName: the configured one, else the short
// host name (ParallelCluster names a compute node's host after its NodeName).
func NodeName(configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("node name: %w (set verify.node_name)", err)
	}
	short, _, _ := strings.Cut(h, ".")
	return short, nil
}
