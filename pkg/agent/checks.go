package agent

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/node"

	"github.com/enroot-agent/enroot-agent/pkg/slurm"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"go.uber.org/zap"
)

// checkState is the checks' state: the cache /verify serves from, the
// drainer, and what the newest evaluation found. Every evaluation the cache
// makes, whoever asked for it (the daemon's schedule, a probe, the CLI),
// reaches the loop, so STATUS=, /verify, the drain reason and a repair's
// text all follow the same report at the same moment.
type checkState struct {
	cache   *verify.Cache
	drainer *Drainer // nil unless verify.drain_on_failure

	// The loop's own look at the node: restore the credentials files, then
	// evaluate. runs numbers them; again asks for one more after the one in
	// flight (a converge ended meanwhile).
	busy  bool
	again bool
	runs  uint64
	done  chan checkRun
	// readyAfter is the first run READY=1 waits for (0: not waiting).
	readyAfter uint64

	fresh chan verify.Report // every evaluation, newest only (see feed)
	last  verify.Report      // the newest report seen
	acted uint64             // Seq of the newest report drained and repaired on

	status map[string]verify.Status
	since  map[string]time.Time // when each check stopped being ok

	draining  bool
	drainNext *verify.Report // the newest report waiting for the drain in flight
	drained   chan drainResult

	// repairable names the checks whose failure starts a drift repair;
	// creds those about the credentials files, restored before anything.
	repairable map[string]bool
	creds      map[string]bool
}

type checkRun struct {
	n          uint64
	rep        verify.Report
	err        error
	restored   []string // credentials files put back before the evaluation
	restoreErr error
}

type drainResult struct {
	act DrainAction
	err error
}

func newCheckState() checkState {
	return checkState{
		done: make(chan checkRun, 1), fresh: make(chan verify.Report, 1), drained: make(chan drainResult, 1),
		status: map[string]verify.Status{}, since: map[string]time.Time{},
	}
}

// setupChecks takes the checks of the current node and builds the drainer
// for name, the node's Slurm name ("" when it has none: no drain).
func (l *loop) setupChecks(name string) {
	v := l.cfg.Verify
	if l.checks.cache == nil {
		l.checks.cache = verify.NewCache(l.node.Checks(), v.CacheTTL.D(), v.Timeout.D(), name)
		l.checks.cache.Observe(l.feed)
	} else {
		l.checks.cache.SetChecks(l.node.Checks(), v.CacheTTL.D(), v.Timeout.D(), name)
	}
	l.checks.repairable = l.node.Repairable()
	l.checks.creds = l.node.Credentials()
	l.checks.drainer = nil
	if name != "" && v.DrainOnFailure {
		l.checks.drainer = &Drainer{Node: name, Log: l.log.Named("drain"), Scontrol: slurm.ScontrolPath(l.d.Root, l.cfg.Pyxis.SlurmPrefix)}
	}
}

// feed hands an evaluation to the loop; it runs in the cache's goroutine
// and never blocks: an older report still waiting is replaced.
func (l *loop) feed(rep verify.Report) {
	for {
		select {
		case l.checks.fresh <- rep:
			return
		default:
		}
		select {
		case old := <-l.checks.fresh:
			if old.Seq > rep.Seq {
				rep = old
			}
		default:
		}
	}
}

// startChecks restores the credentials files from the tokens held (no ECR
// call) and then evaluates the checks, in a worker. The restore comes
// first and needs nothing else to work: a deleted .credentials is back
// within one verify.interval whatever step fails or runs, and the node is
// never drained for damage the daemon puts right itself.
func (l *loop) startChecks() {
	if !l.settled {
		return
	}
	if l.checks.busy {
		l.checks.again = true
		return
	}
	l.checks.busy, l.checks.again = true, false
	l.checks.runs++
	run := checkRun{n: l.checks.runs}
	cache, restore := l.checks.cache, l.restorer()
	go func() {
		if restore != nil {
			run.restored, run.restoreErr = restore()
			if len(run.restored) > 0 {
				cache.Invalidate()
			}
		}
		run.rep, run.err = cache.Get(l.ctx)
		l.checks.done <- run
	}()
}

// checksDone takes the loop's own evaluation: it may make the daemon ready,
// and it is acted on (drain, repair) even when another caller's copy of
// the same report arrived first.
func (l *loop) checksDone(run checkRun) {
	l.checks.busy = false
	if len(run.restored) > 0 {
		l.serve.metrics.ObserveRepair("credentials")
		l.log.Warn("restored the credentials files from the tokens held (no ECR call)", zap.Strings("files", run.restored))
	}
	if run.err == nil {
		l.observe(run.rep)
		if l.checks.readyAfter != 0 && run.n >= l.checks.readyAfter {
			l.checks.readyAfter = 0
			l.becomeReady()
		}
		l.act(run.rep)
	}
	if l.checks.again {
		l.startChecks()
	}
}

// observed takes an evaluation someone else asked for. While a credentials
// check fails, the loop's own look (restore first) follows before any
// drain or repair.
func (l *loop) observed(rep verify.Report) {
	if !l.observe(rep) {
		return
	}
	if l.restorer() != nil && l.failsAny(rep, l.checks.creds) {
		l.startChecks()
		return
	}
	l.act(rep)
}

// observe makes rep the newest report, if it is, and logs each check that
// changed, so the journal shows when a node went bad and when it recovered.
func (l *loop) observe(rep verify.Report) bool {
	if rep.Results == nil || rep.Seq <= l.checks.last.Seq {
		return false
	}
	l.checks.last = rep
	now := map[string]verify.Status{}
	for _, r := range rep.Results {
		now[r.Name] = r.Status
		before, known := l.checks.status[r.Name]
		switch {
		case r.Status == verify.OK:
			delete(l.checks.since, r.Name)
		case !known || before == verify.OK:
			l.checks.since[r.Name] = rep.Checked
		}
		switch {
		case known && before == r.Status:
		case r.Status == verify.OK && known:
			l.log.Info("check passes again", zap.String("check", r.Name), zap.String("message", r.Message))
		case r.Status != verify.OK:
			l.log.Warn("check "+r.Status.String(), zap.String("check", r.Name), zap.String("message", r.Message), zap.String("fix", r.Fix))
		}
	}
	for name := range l.checks.since {
		if _, ok := now[name]; !ok {
			delete(l.checks.since, name)
		}
	}
	l.checks.status = now
	return true
}

// act drains or resumes the node and starts a repair, once per report and
// only once the daemon is ready.
func (l *loop) act(rep verify.Report) {
	if !l.ready || rep.Seq <= l.checks.acted || rep.Seq < l.checks.last.Seq {
		return
	}
	l.checks.acted = rep.Seq
	l.syncDrain(rep)
	l.repairOnFailure(rep)
}

func (l *loop) failsAny(rep verify.Report, names map[string]bool) bool {
	for _, r := range rep.Results {
		if r.Status == verify.Fail && names[r.Name] {
			return true
		}
	}
	return false
}

// syncDrain brings the node's Slurm drain state in step with rep in a
// worker; a newer report waits for the call in flight.
func (l *loop) syncDrain(rep verify.Report) {
	drainer := l.checks.drainer
	if drainer == nil {
		return
	}
	if l.checks.draining {
		l.checks.drainNext = &rep
		return
	}
	l.checks.draining = true
	go func() {
		act, err := drainer.Sync(l.ctx, rep)
		l.serve.drained.Store(drainer.Ours())
		l.checks.drained <- drainResult{act, err}
	}()
}

func (l *loop) drainDone(res drainResult) {
	l.checks.draining = false
	if res.err != nil {
		l.log.Warn("cannot update the node's drain state", zap.Error(res.err))
	} else if res.act != NoAction {
		l.log.Info("drain state updated", zap.String("action", string(res.act)))
	}
	if next := l.checks.drainNext; next != nil {
		l.checks.drainNext = nil
		l.syncDrain(*next)
	}
}

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
	Scontrol string // the scontrol to run (slurm.ScontrolPath); "" is PATH's

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
	sc := slurm.Scontrol{Node: d.Node, Path: d.Scontrol}
	state, err := sc.Show(ctx)
	if err != nil {
		return NoAction, err
	}
	ours := strings.HasPrefix(state.Reason, ReasonPrefix)
	d.ours.Store(state.Drain && ours)
	if rep.Status == verify.Fail {
		act, err := d.drain(ctx, sc, state, ours, ReasonPrefix+node.RootCause(rep.Results))
		if act == Drained || act == Reasoned {
			d.ours.Store(true)
		}
		return act, err
	}
	if !state.Drain || !ours {
		return NoAction, nil
	}
	if state.Down {
		// Slurm marked it down for its own reasons; ReturnToService decides.
		d.Log.Info("node is down as well as drained by us; not resuming", zap.String("state", state.State))
		return NoAction, nil
	}
	if err := sc.Resume(ctx); err != nil {
		return NoAction, err
	}
	d.ours.Store(false)
	d.Log.Info("node resumed: every check passes again", zap.String("node", d.Node))
	return Resumed, nil
}

func (d *Drainer) drain(ctx context.Context, sc slurm.Scontrol, state slurm.Node, ours bool, reason string) (DrainAction, error) {
	switch {
	case state.Drain && !ours:
		d.Log.Info("node drained by someone else; leaving it alone", zap.String("reason", state.Reason))
		return NoAction, nil
	case state.Drain && state.Reason == reason:
		return NoAction, nil
	}
	if err := sc.Drain(ctx, reason); err != nil {
		return NoAction, err
	}
	if state.Drain {
		return Reasoned, nil
	}
	d.Log.Warn("node drained: a check fails", zap.String("node", d.Node), zap.String("reason", reason))
	return Drained, nil
}
