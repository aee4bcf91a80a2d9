package agent

import (
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"go.uber.org/zap"
)

// checkState is the checks' state: the cache /verify serves from, the
// drainer, and what the last evaluation found.
type checkState struct {
	cache   *verify.Cache
	drainer *Drainer // nil unless verify.drain_on_failure
	busy    bool
	done    chan verify.Report
	status  map[string]verify.Status
	failing string        // the root cause, "" when all ok
	worst   verify.Status // the last report's status, as /verify answers it
	// repairable names the checks whose failure starts a drift repair.
	repairable map[string]bool
}

// startChecks evaluates the checks (through the cache /verify uses) in a
// worker, then drains or resumes the node when drain_on_failure is set.
func (l *loop) startChecks() {
	if l.checks.busy || !l.ready {
		return
	}
	l.checks.busy = true
	cache, drainer := l.checks.cache, l.checks.drainer
	go func() {
		rep, err := cache.Get(l.ctx)
		if err != nil {
			rep = verify.Report{Status: verify.Unknown}
		} else if drainer != nil {
			act, err := drainer.Sync(l.ctx, rep)
			l.serve.drained.Store(drainer.Ours())
			if err != nil {
				l.log.Warn("cannot update the node's drain state", zap.Error(err))
			} else if act != NoAction {
				l.log.Info("drain state updated", zap.String("action", string(act)))
			}
		}
		l.checks.done <- rep
	}()
}

// observeChecks logs each check that changed, so the journal shows when a
// node went bad and when it recovered.
func (l *loop) observeChecks(rep verify.Report) {
	l.checks.busy = false
	if rep.Results == nil {
		return
	}
	now := map[string]verify.Status{}
	l.checks.failing, l.checks.worst = RootCause(rep.Results), rep.Status
	for _, r := range rep.Results {
		now[r.Name] = r.Status
		before, known := l.checks.status[r.Name]
		switch {
		case known && before == r.Status:
		case r.Status == verify.OK && known:
			l.log.Info("check passes again", zap.String("check", r.Name), zap.String("message", r.Message))
		case r.Status != verify.OK:
			l.log.Warn("check "+r.Status.String(), zap.String("check", r.Name), zap.String("message", r.Message), zap.String("fix", r.Fix))
		}
	}
	l.checks.status = now
	l.repairOnFailure(rep)
}

func (l *loop) newDrainer(node string) *Drainer {
	if !l.cfg.Verify.DrainOnFailure {
		return nil
	}
	return &Drainer{Node: node, Log: l.log.Named("drain"), Scontrol: slurm.ScontrolPath(l.d.Root, l.cfg.Pyxis.SlurmPrefix)}
}
