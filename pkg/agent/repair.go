package agent

import (
	"math/rand/v2"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/backoff"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"go.uber.org/zap"
)

// repairs is drift repair's state: a daemon that only reported drift would
// leave a node broken until an admin restarted it. The node is converged
// again every converge.interval, and at once (with backoff) when a check a
// converge can fix fails.
type repairs struct {
	timer *time.Timer
	c     <-chan time.Time
	// trigger says why the converge in flight runs: "" for a start, reload
	// or retry, else "schedule" or "check <name> failing".
	trigger   string
	streak    int       // check-started repairs in a row that did not clear the checks
	notBefore time.Time // the next check-started repair waits until then
}

// scheduleRepair arms the periodic converge: converge.interval plus up to a
// tenth of it, so a fleet that booted together does not act in step.
func (l *loop) scheduleRepair() {
	if l.repair.timer != nil {
		l.repair.timer.Stop()
	}
	l.repair.c = nil
	every := l.cfg.Converge.Interval.D()
	if every <= 0 {
		return
	}
	l.repair.timer = time.NewTimer(every + time.Duration(rand.Int64N(int64(every/10)+1)))
	l.repair.c = l.repair.timer.C
}

// startRepair converges again, then makes sure every credentials file holds
// its token (a deleted file is rewritten without an ECR call).
func (l *loop) startRepair(trigger string) {
	if l.work.phase != idle || l.pending != nil || !l.ready {
		return
	}
	l.repair.trigger = trigger
	l.work.needRefresh = true
	l.startConverge()
}

// repairOnFailure starts a repair when a check that a converge can fix
// fails, unless failed steps already wait for their retry or the backoff of
// earlier repairs has not run out. The repair is named after the report's
// root cause, as the drain reason and STATUS= are.
func (l *loop) repairOnFailure(rep verify.Report) {
	repairable := ""
	for _, r := range rep.Results {
		if r.Status == verify.Fail && l.checks.repairable[r.Name] {
			repairable = r.Name
			break
		}
	}
	switch {
	case repairable == "":
		l.repair.streak, l.repair.notBefore = 0, time.Time{}
		return
	case l.work.phase != idle || !l.ready || l.pending != nil:
		return
	case l.work.retryC != nil || time.Now().Before(l.repair.notBefore):
		return
	}
	l.repair.streak++
	l.repair.notBefore = time.Now().Add(backoff.Exp(retryFirst, retryMax, l.repair.streak))
	cause := RootCause(rep.Results)
	l.log.Info("a check failed; converging to repair the drift", zap.String("check", cause), zap.String("repairable", repairable))
	l.startRepair("check " + cause + " failing")
}

// nextRetry is when the daemon converges again on its own because
// something fails: the failed steps' retry, else the next repair a failing
// check may start; zero when neither waits.
func (l *loop) nextRetry(now time.Time) time.Time {
	if l.work.retryC != nil {
		return l.work.nextTry
	}
	if l.repair.notBefore.After(now) {
		return l.repair.notBefore
	}
	return time.Time{}
}

// observeRepairs logs and counts what a repair changed: each step that had
// drifted, with the reason and the changes (diffs for files) its plan gave.
func (l *loop) observeRepairs(rep converge.Report) {
	trigger := l.repair.trigger
	l.repair.trigger = ""
	if trigger == "" {
		return
	}
	for _, r := range rep.Results {
		if r.Outcome != converge.Changed || r.Plan == nil {
			continue
		}
		l.serve.metrics.ObserveRepair(r.Step)
		l.log.Warn("repaired drift", zap.String("step", r.Step), zap.String("trigger", trigger),
			zap.String("drifted", r.Plan.Reason), zap.String("changes", r.Plan.Summary()), zap.String("diff", diffs(r.Plan)))
	}
}

func diffs(p *converge.Plan) string {
	var b strings.Builder
	for _, c := range p.Changes {
		b.WriteString(c.Diff)
	}
	return b.String()
}
