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
	steps := l.steps()
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
