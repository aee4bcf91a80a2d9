package agent

import (
	"context"
	"errors"
	"time"

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

func (l *loop) env() Env { return Env{Config: l.cfg, Root: l.d.Root, Log: l.log} }

// startConverge runs every step in a worker; steps already done cost only
// their Plan, so a retry reruns the whole list.
func (l *loop) startConverge() {
	ctx, cancel := context.WithCancel(l.ctx)
	l.phase, l.workCancel = converging, cancel
	steps := Steps(l.env())
	go func() {
		rep := (&converge.Runner{Log: l.log}).Run(ctx, steps)
		l.workDone <- workResult{kind: converging, rep: rep}
	}()
}

func (l *loop) startRefresh() {
	ctx, cancel := context.WithCancel(l.ctx)
	l.phase, l.workCancel = refreshing, cancel
	r := l.refresher
	go func() {
		_, err := r.Ensure(ctx)
		l.workDone <- workResult{kind: refreshing, err: err}
	}()
}

// finish takes a worker's result and decides what comes next.
func (l *loop) finish(res workResult) {
	l.workCancel()
	l.phase = idle
	if l.ctx.Err() != nil {
		return
	}
	if l.pending != nil {
		l.applyReload()
		return
	}
	switch res.kind {
	case converging:
		l.metrics.ObserveConverge(res.rep, time.Now())
		l.recordFailures(res.rep)
		if l.needRefresh {
			l.needRefresh = false
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
		if !l.refStarted {
			ctx, cancel := context.WithCancel(l.ctx)
			l.refCancel = cancel
			l.refresher.Start(ctx)
			l.refStarted = true
		}
	}
	l.settle()
}

// settle ends a start, reload or retry: READY=1 the first time, then the
// retry timer when something still fails, and a fresh look by the checks.
func (l *loop) settle() {
	if !l.ready || l.reloading {
		l.ready, l.reloading = true, false
		l.metrics.SetReady(true)
		l.d.notify("READY=1")
		l.log.Info("ready")
	}
	if len(l.failing) > 0 || l.refErr != nil {
		delay := backoff.Exp(retryFirst, retryMax, l.retries+1)
		l.retries++
		l.nextTry = time.Now().Add(delay)
		l.retry = time.NewTimer(delay)
		l.retryC = l.retry.C
		l.log.Info("something failed; converging again later", zap.Duration("in", delay))
	} else {
		l.retries, l.nextTry = 0, time.Time{}
	}
	l.cache.Invalidate()
	l.startChecks()
}

func (l *loop) recordFailures(rep converge.Report) {
	now := time.Now()
	seen := map[string]bool{}
	for _, r := range rep.Results {
		seen[r.Step] = true
		if r.Err == nil {
			delete(l.failing, r.Step)
		} else if _, ok := l.failing[r.Step]; !ok {
			l.failing[r.Step] = now
		}
	}
	for name := range l.failing {
		if !seen[name] {
			delete(l.failing, name)
		}
	}
}

// ensureRefresher builds the refresher when there is none yet; it fails
// when, say, credentials.group names a group the directory does not have
// yet, and is retried with the failed steps.
func (l *loop) ensureRefresher() bool {
	if l.refresher != nil {
		return true
	}
	r, err := l.d.NewRefresher(l.cfg, l.d.Root, l.log)
	l.refErr = err
	if err != nil {
		l.log.Error("cannot keep ECR credentials", zap.Error(err))
		return false
	}
	l.refMu.Lock()
	l.refresher = r
	l.refMu.Unlock()
	return true
}

// stopRefresher ends the schedule and cancels a refresh in flight, waiting
// for it until deadline at most.
func (l *loop) stopRefresher(deadline time.Time) {
	if l.refresher == nil {
		return
	}
	if l.refCancel != nil {
		l.refCancel()
	}
	stopped := l.refresher.Stop()
	wait, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	select {
	case <-stopped.Done():
	case <-wait.Done():
		l.log.Warn("credentials refresh still running; not waiting for it")
	}
	l.refMu.Lock()
	l.refresher, l.refCancel, l.refStarted = nil, nil, false
	l.refMu.Unlock()
}

// waitWork waits for the worker in flight until deadline.
func (l *loop) waitWork(deadline time.Time) error {
	if l.phase == idle {
		return nil
	}
	l.workCancel()
	select {
	case <-l.workDone:
		l.phase = idle
		return nil
	case <-time.After(time.Until(deadline)):
		return errors.New("work in flight did not stop in time")
	}
}
