package agent

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/credentials"
	"github.com/enroot-agent/enroot-agent/pkg/node"
	"github.com/enroot-agent/enroot-agent/pkg/verify"

	"github.com/enroot-agent/enroot-agent/internal/backoff"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"go.uber.org/zap"
)

type phase int

const (
	idle phase = iota
	converging
	refreshing
)

// converger is the converge's state: the worker in flight (a converge or
// the first refresh) and the retry of failed steps.
type converger struct {
	phase       phase
	cancel      context.CancelFunc
	done        chan workResult
	needRefresh bool // refresh credentials after this converge

	retries int
	retry   *time.Timer
	retryC  <-chan time.Time
	failing map[string]bool // the steps the last converge failed
	nextTry time.Time
}

type workResult struct {
	kind phase
	rep  converge.Report
	err  error
}

// Failed steps are retried from retryFirst, doubling up to retryMax: a
// broken mirror is not hammered, and a fixed one is picked up within minutes.
const (
	retryFirst = 30 * time.Second
	retryMax   = 15 * time.Minute
)

// startConverge runs every step in a worker; steps already done cost only
// their Plan, so a retry reruns the whole list.
func (l *loop) startConverge() {
	ctx, cancel := context.WithCancel(l.ctx)
	l.work.phase, l.work.cancel = converging, cancel
	steps := l.node.Steps()
	go func() {
		rep := (&converge.Runner{Log: l.log}).Run(ctx, steps)
		l.work.done <- workResult{kind: converging, rep: rep}
	}()
}

// finish takes a worker's result and decides what comes next.
func (l *loop) finish(res workResult) {
	l.work.cancel()
	l.work.phase = idle
	if l.ctx.Err() != nil {
		return
	}
	if l.pending != nil {
		l.applyReload()
		return
	}
	switch res.kind {
	case converging:
		l.serve.metrics.ObserveConverge(res.rep, time.Now())
		l.recordFailures(res.rep)
		l.observeRepairs(res.rep)
		if l.work.needRefresh {
			l.work.needRefresh = false
			if l.ensureRefresher() {
				l.startRefresh()
				return
			}
		}
	case refreshing:
		if res.err != nil {
			// The refresher logged the details and retries on its schedule.
			l.log.Warn("credentials refresh failed; the schedule retries", zap.Error(res.err))
		}
		if !l.creds.started {
			ctx, cancel := context.WithCancel(l.ctx)
			l.creds.cancel = cancel
			l.creds.refresher.Notify(l.credsChanged)
			l.creds.refresher.Start(ctx)
			l.creds.started = true
		}
	}
	l.settle()
}

// settle ends a start, reload or retry: the retry timer when something
// still fails, and a fresh look by the checks. After a start or a reload,
// READY=1 waits for that look, so the first STATUS= after it describes the
// node as /verify does.
func (l *loop) settle() {
	if !l.ready || l.reloading {
		l.checks.readyAfter = l.checks.runs + 1
	}
	l.settled = true
	if len(l.work.failing) > 0 || l.creds.err != nil {
		delay := backoff.Exp(retryFirst, retryMax, l.work.retries+1)
		l.work.retries++
		l.work.nextTry = time.Now().Add(delay)
		l.work.retry = time.NewTimer(delay)
		l.work.retryC = l.work.retry.C
		l.log.Info("something failed; converging again later", zap.Duration("in", delay))
	} else {
		l.work.retries, l.work.nextTry = 0, time.Time{}
	}
	l.scheduleRepair()
	l.checks.cache.Invalidate()
	l.startChecks()
}

// becomeReady sends READY=1 once the start's or the reload's converge,
// refresh and first evaluation are done.
func (l *loop) becomeReady() {
	l.ready, l.reloading = true, false
	l.serve.metrics.SetReady(true)
	l.d.notify("READY=1")
	l.log.Info("ready")
}

// recordFailures keeps the steps that failed, for the retry: what fails
// is reported from the checks, which see the node as it is now.
func (l *loop) recordFailures(rep converge.Report) {
	clear(l.work.failing)
	for _, r := range rep.Results {
		if r.Err != nil {
			l.work.failing[r.Step] = true
		}
	}
}

// waitWork waits for the worker in flight until deadline.
func (l *loop) waitWork(deadline time.Time) error {
	if l.work.phase == idle {
		return nil
	}
	l.work.cancel()
	select {
	case <-l.work.done:
		l.work.phase = idle
		return nil
	case <-time.After(time.Until(deadline)):
		return errors.New("work in flight did not stop in time")
	}
}

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
	cause := node.RootCause(rep.Results)
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

// Refresher is what the daemon needs from the credentials refresher.
type Refresher interface {
	// Ensure refreshes only the tokens that are missing or due, so a
	// restart of the daemon does not call ECR when its tokens are fresh;
	// attempted says whether ECR was asked.
	Ensure(ctx context.Context) (attempted bool, err error)
	// Restore rewrites every credentials file from the tokens held, with
	// no ECR call, and returns the files it changed.
	Restore() ([]string, error)
	Start(ctx context.Context)
	Stop() context.Context
	Status() credentials.Status
	// Notify has f called after each refresh recorded its outcome; f
	// must not block.
	Notify(f func())
}

// RefresherFactory builds a refresher for one config.
type RefresherFactory func(cfg config.Config, root config.Root, log *zap.Logger) (Refresher, error)

// NewCredentialsRefresher is the production factory.
func NewCredentialsRefresher(cfg config.Config, root config.Root, log *zap.Logger) (Refresher, error) {
	return credentials.NewRefresher(cfg, root, log)
}

// keeper is the credentials' state: the refresher keeps the tokens fresh on
// its own schedule once started; the loop builds, starts and stops it.
type keeper struct {
	mu        sync.Mutex // guards refresher: metrics read it from HTTP goroutines
	refresher Refresher
	cancel    context.CancelFunc
	err       error // the refresher could not be built
	started   bool
	// changed wakes the loop when a refresh on the refresher's own
	// schedule changed its Status, which STATUS= shows.
	changed chan struct{}
}

// credsChanged runs in the refresher's goroutine and never blocks: one
// wake-up pending is enough, the loop reads the newest Status.
func (l *loop) credsChanged() {
	select {
	case l.creds.changed <- struct{}{}:
	default:
	}
}

func (l *loop) startRefresh() {
	ctx, cancel := context.WithCancel(l.ctx)
	l.work.phase, l.work.cancel = refreshing, cancel
	r := l.creds.refresher
	go func() {
		_, err := r.Ensure(ctx)
		l.work.done <- workResult{kind: refreshing, err: err}
	}()
}

// ensureRefresher builds the refresher when there is none yet; it fails
// when, say, credentials.group names a group the directory does not have
// yet, and is retried with the failed steps.
func (l *loop) ensureRefresher() bool {
	if l.creds.refresher != nil {
		return true
	}
	r, err := l.d.NewRefresher(l.cfg, l.d.Root, l.log)
	l.creds.err = err
	if err != nil {
		l.log.Error("cannot keep ECR credentials", zap.Error(err))
		return false
	}
	l.creds.mu.Lock()
	l.creds.refresher = r
	l.creds.mu.Unlock()
	return true
}

// stopRefresher ends the schedule and cancels a refresh in flight, waiting
// for it until deadline at most.
func (l *loop) stopRefresher(deadline time.Time) {
	if l.creds.refresher == nil {
		return
	}
	if l.creds.cancel != nil {
		l.creds.cancel()
	}
	stopped := l.creds.refresher.Stop()
	wait, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	select {
	case <-stopped.Done():
	case <-wait.Done():
		l.log.Warn("credentials refresh still running; not waiting for it")
	}
	l.creds.mu.Lock()
	l.creds.refresher, l.creds.cancel, l.creds.started = nil, nil, false
	l.creds.mu.Unlock()
}

// restorer is how the checks' worker puts the credentials files back from
// the tokens held; nil until the first refresh wrote them (and while a
// reload builds a new refresher).
func (l *loop) restorer() func() ([]string, error) {
	if !l.creds.started || l.creds.refresher == nil {
		return nil
	}
	return l.creds.refresher.Restore
}

func (l *loop) credsStatus() (credentials.Status, bool) {
	l.creds.mu.Lock()
	r := l.creds.refresher
	l.creds.mu.Unlock()
	if r == nil {
		return credentials.Status{}, false
	}
	return r.Status(), true
}
