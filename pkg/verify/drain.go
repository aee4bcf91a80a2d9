package verify

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"go.uber.org/zap"
)

// ReasonPrefix marks a drain as the agent's own. The agent resumes only
// nodes whose drain reason starts with it: an admin's drain is never undone.
const ReasonPrefix = "enroot-agent: "

// Action is what Sync did to the node.
type Action string

const (
	NoAction Action = "none"
	Drained  Action = "drained"
	Resumed  Action = "resumed"
	Reasoned Action = "reason-updated"
)

// Drainer keeps the node's Slurm drain state in step with the checks, with
// scontrol (found on PATH; SLURM_CONF and munge as for any Slurm command).
type Drainer struct {
	Node    string
	Log     *zap.Logger
	Timeout time.Duration // per scontrol call
}

// Sync drains the node while a check fails and resumes it when every check
// is ok again, only if the drain is ours. Unknown changes nothing: "cannot
// tell" is no reason to take a node out of service, nor to return it.
func (d *Drainer) Sync(ctx context.Context, rep Report) (Action, error) {
	if rep.Status == Unknown {
		return NoAction, nil
	}
	out, err := d.scontrol(ctx, "show", "node", d.Node)
	if err != nil {
		return NoAction, err
	}
	node, err := ParseNode(out)
	if err != nil {
		return NoAction, fmt.Errorf("scontrol show node %s: %w", d.Node, err)
	}
	ours := strings.HasPrefix(node.Reason, ReasonPrefix)
	if rep.Status == Fail {
		reason := ReasonPrefix + FirstFailing(rep.Results)
		switch {
		case node.Drain && !ours:
			d.Log.Info("node drained by someone else; leaving it alone", zap.String("reason", node.Reason))
			return NoAction, nil
		case node.Drain && node.Reason == reason:
			return NoAction, nil
		}
		if _, err := d.scontrol(ctx, "update", "NodeName="+d.Node, "State=DRAIN", "Reason="+reason); err != nil {
			return NoAction, err
		}
		if node.Drain {
			return Reasoned, nil
		}
		d.Log.Warn("node drained: a check fails", zap.String("node", d.Node), zap.String("reason", reason))
		return Drained, nil
	}
	if !node.Drain || !ours {
		return NoAction, nil
	}
	if node.Down {
		// Slurm marked it down for its own reasons; ReturnToService decides.
		d.Log.Info("node is down as well as drained by us; not resuming", zap.String("state", node.State))
		return NoAction, nil
	}
	if _, err := d.scontrol(ctx, "update", "NodeName="+d.Node, "State=RESUME"); err != nil {
		return NoAction, err
	}
	d.Log.Info("node resumed: every check passes again", zap.String("node", d.Node))
	return Resumed, nil
}

func (d *Drainer) scontrol(ctx context.Context, args ...string) (string, error) {
	timeout := d.Timeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "scontrol", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("scontrol %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}
