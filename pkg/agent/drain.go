package agent

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/slurm"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"go.uber.org/zap"
)

// ReasonPrefix marks a drain as the agent's own. The agent resumes only
// nodes whose drain reason starts with it: an admin's drain is never undone.
const ReasonPrefix = "enroot-agent: "

// DrainAction is what Drainer.Sync did to the node.
type DrainAction string

const (
	NoAction DrainAction = "none"
	Drained  DrainAction = "drained"
	Resumed  DrainAction = "resumed"
	Reasoned DrainAction = "reason-updated"
)

// Drainer keeps the node's Slurm drain state in step with the checks.
type Drainer struct {
	Node     string
	Log      *zap.Logger
	Timeout  time.Duration // per scontrol call
	Scontrol string        // the scontrol to run (slurm.ScontrolPath); "" is PATH's

	ours atomic.Bool // the node is drained with our reason, as last seen
}

// Ours reports whether the node was drained by the agent when Sync last
// looked, for the enroot_agent_node_drained metric.
func (d *Drainer) Ours() bool { return d.ours.Load() }

// Sync drains the node while a check fails and resumes it when every check
// is ok again, only if the drain is ours. Unknown changes nothing: "cannot
// tell" is no reason to take a node out of service, nor to return it.
func (d *Drainer) Sync(ctx context.Context, rep verify.Report) (DrainAction, error) {
	if rep.Status == verify.Unknown {
		return NoAction, nil
	}
	sc := slurm.Scontrol{Node: d.Node, Timeout: d.Timeout, Path: d.Scontrol}
	node, err := sc.Show(ctx)
	if err != nil {
		return NoAction, err
	}
	ours := strings.HasPrefix(node.Reason, ReasonPrefix)
	d.ours.Store(node.Drain && ours)
	if rep.Status == verify.Fail {
		act, err := d.drain(ctx, sc, node, ours, ReasonPrefix+RootCause(rep.Results))
		if act == Drained || act == Reasoned {
			d.ours.Store(true)
		}
		return act, err
	}
	if !node.Drain || !ours {
		return NoAction, nil
	}
	if node.Down {
		// Slurm marked it down for its own reasons; ReturnToService decides.
		d.Log.Info("node is down as well as drained by us; not resuming", zap.String("state", node.State))
		return NoAction, nil
	}
	if err := sc.Resume(ctx); err != nil {
		return NoAction, err
	}
	d.ours.Store(false)
	d.Log.Info("node resumed: every check passes again", zap.String("node", d.Node))
	return Resumed, nil
}

func (d *Drainer) drain(ctx context.Context, sc slurm.Scontrol, node slurm.Node, ours bool, reason string) (DrainAction, error) {
	switch {
	case node.Drain && !ours:
		d.Log.Info("node drained by someone else; leaving it alone", zap.String("reason", node.Reason))
		return NoAction, nil
	case node.Drain && node.Reason == reason:
		return NoAction, nil
	}
	if err := sc.Drain(ctx, reason); err != nil {
		return NoAction, err
	}
	if node.Drain {
		return Reasoned, nil
	}
	d.Log.Warn("node drained: a check fails", zap.String("node", d.Node), zap.String("reason", reason))
	return Drained, nil
}
