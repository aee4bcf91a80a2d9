package slurm

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/lazyre"
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

// Node is what the drain logic needs from `scontrol show node`.
type Node struct {
	State  string // e.g. IDLE+DRAIN
	Drain  bool   // DRAIN, DRAINING or DRAINED
	Down   bool
	Reason string // without Slurm's trailing "[user@time]"
}

// slurmStamp is what slurmctld appends to a reason: " [root@2024-01-02T03:04:05]".
var slurmStamp = lazyre.New(`\s*\[[^\[\]]*@[^\[\]]*\]$`)

// ParseNode reads the multi-line `scontrol show node NAME` output, where
// Reason= sits on its own line and may hold spaces.
func ParseNode(out string) (Node, error) {
	var n Node
	found := false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if r, ok := strings.CutPrefix(line, "Reason="); ok {
			n.Reason = slurmStamp.ReplaceAllString(r, "")
			continue
		}
		for _, f := range strings.Fields(line) {
			if s, ok := strings.CutPrefix(f, "State="); ok {
				n.State, found = s, true
			}
		}
	}
	if !found {
		return Node{}, fmt.Errorf("no State= in the output")
	}
	for i, flag := range strings.Split(n.State, "+") {
		switch {
		case strings.HasPrefix(flag, "DRAIN"):
			n.Drain = true
		case i == 0 && flag == "DOWN":
			n.Down = true
		}
	}
	if n.Reason == "(null)" || n.Reason == "none" {
		n.Reason = ""
	}
	return n, nil
}

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
