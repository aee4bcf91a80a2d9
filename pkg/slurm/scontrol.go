package slurm

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// Scontrol runs scontrol (SLURM_CONF and munge as for any Slurm command)
// for one node.
type Scontrol struct {
	Node    string
	Timeout time.Duration // per call; 0 means 15s
	// Path is the scontrol to run (ScontrolPath); "" finds it on PATH.
	Path string
}

// ScontrolPath is the scontrol of the Slurm installed under prefix
// (pyxis.slurm_prefix) when there is one, else "scontrol" from PATH. A
// ParallelCluster node keeps Slurm in /opt/slurm/bin, which only login
// shells have on their PATH: the agent's unit does not, and neither does
// Slurm's HealthCheckProgram.
func ScontrolPath(root config.Root, prefix string) string {
	if p := root.Path(filepath.Join(prefix, "bin", "scontrol")); fileExists(p) {
		return p
	}
	return "scontrol"
}

// Show reads the node's state and drain reason.
func (s Scontrol) Show(ctx context.Context) (Node, error) {
	out, err := s.run(ctx, "show", "node", s.Node)
	if err != nil {
		return Node{}, err
	}
	n, err := ParseNode(out)
	if err != nil {
		return Node{}, fmt.Errorf("scontrol show node %s: %w", s.Node, err)
	}
	return n, nil
}

// Drain takes the node out of service with reason (or replaces the reason
// of a drain in place).
func (s Scontrol) Drain(ctx context.Context, reason string) error {
	_, err := s.run(ctx, "update", "NodeName="+s.Node, "State=DRAIN", "Reason="+reason)
	return err
}

// Resume returns a drained node to service.
func (s Scontrol) Resume(ctx context.Context) error {
	_, err := s.run(ctx, "update", "NodeName="+s.Node, "State=RESUME")
	return err
}

func (s Scontrol) run(ctx context.Context, args ...string) (string, error) {
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	bin := s.Path
	if bin == "" {
		bin = "scontrol"
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		// %w keeps a timeout recognisable (errors.Is(err, context.DeadlineExceeded)).
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return "", fmt.Errorf("scontrol %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}
