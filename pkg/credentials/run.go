package credentials

import (
	"context"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"
)

// Start begins the schedule and returns at once. Call RefreshNow first: the
// schedule's first run comes at a random point within one interval.
func (r *Refresher) Start(ctx context.Context) {
	logger := cronLogger{r.log}
	c := cron.New(cron.WithLogger(logger), cron.WithLocation(time.UTC))
	// SkipIfStillRunning must wrap Recover: in cron v3.0.1 a panic escaping
	// SkipIfStillRunning never gives back its slot, disabling the job.
	job := cron.NewChain(cron.SkipIfStillRunning(logger), cron.Recover(logger)).Then(cron.FuncJob(func() { r.scheduled(ctx) }))
	r.mu.Lock()
	r.cron, r.job = c, job
	r.mu.Unlock()
	// Started first: only a running cron computes an entry's Next, which
	// Status().NextRefresh (and the daemon's STATUS= line) reports.
	c.Start()
	r.reschedule()
	r.logSlot()
	r.scheduleSecrets(ctx, c, logger)
}

// logSlot says once when this node refreshes, so an admin can tell why.
func (r *Refresher) logSlot() {
	s := r.sched
	if !s.HasSlot {
		r.log.Info("token refresh at random points (no IPv4 address to take a slot from)",
			zap.Duration("interval", s.Interval), zap.Duration("jitter", s.Jitter))
		return
	}
	r.log.Info("token refresh slot", zap.Duration("interval", s.Interval), zap.Duration("offset", s.Slot.Truncate(time.Millisecond)),
		zap.Stringer("address", r.slotAddr))
}

// scheduleSecrets reads the secrets every secrets.refresh_interval (plus a
// tenth at random), apart from the ECR tokens: a rotated secret reaches the
// files within one interval without an ECR call.
func (r *Refresher) scheduleSecrets(ctx context.Context, c *cron.Cron, logger cronLogger) {
	if len(r.cfg.Secrets.Registries) == 0 {
		return
	}
	every := r.cfg.Secrets.RefreshInterval.D()
	sched := &Schedule{Interval: every, Jitter: every / 10, Rand: func(n int64) int64 { return r.Rand(n) }}
	sched.started = true // the refresh that started the node read them
	job := cron.NewChain(cron.SkipIfStillRunning(logger), cron.Recover(logger)).Then(cron.FuncJob(func() {
		if ctx.Err() == nil {
			_ = r.RefreshSecrets(ctx) // logged and recorded
		}
	}))
	c.Schedule(sched, job)
}

// Stop ends the schedule; the context is done when an in-flight run ends.
func (r *Refresher) Stop() context.Context {
	r.mu.Lock()
	c := r.cron
	r.cron = nil
	r.mu.Unlock()
	if c == nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx
	}
	return c.Stop()
}

func (r *Refresher) scheduled(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	r.log.Debug("scheduled refresh")
	_ = r.RefreshNow(ctx) // logged and recorded in Status by refresh
}

// reschedule registers the job again so cron asks the schedule for a time
// that knows the last run's outcome (cron asks when a run starts).
func (r *Refresher) reschedule() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cron == nil {
		r.status.NextRefresh = time.Time{} // nothing scheduled (apply, refresh, or stopped)
		return
	}
	r.sched.SetDeadline(r.deadline(r.Now()))
	if r.entry != 0 {
		r.cron.Remove(r.entry)
	}
	r.entry = r.cron.Schedule(r.sched, r.job)
	r.status.NextRefresh = r.cron.Entry(r.entry).Next
	r.log.Debug("next refresh", zap.Time("at", r.status.NextRefresh))
}

// deadline is the latest time the next refresh may start: a retry after a
// failure, an early refresh before a token runs low, and at the latest the
// moment a held token expires, so it is removed on time. Zero means the
// regular interval decides. Callers hold r.mu.
func (r *Refresher) deadline(now time.Time) time.Time {
	var d time.Time
	earlier := func(t time.Time) {
		if d.IsZero() || t.Before(d) {
			d = t
		}
	}
	e := r.cfg.ECR
	if r.failures > 0 {
		earlier(now.Add(retryDelay(r.failures, e.RetryInitial.D(), e.RetryMax.D(), r.Rand)))
	}
	for _, tok := range r.held {
		earlier(earlyRefresh(now, tok.ExpiresAt, e.RefreshBeforeExpiry.D(), e.RetryInitial.D()))
		earlier(tok.ExpiresAt)
	}
	return d
}

// Files lists the credentials files the refresher keeps (re-rooted paths).
func (r *Refresher) Files() []string {
	out := make([]string, len(r.targets))
	for i, t := range r.targets {
		out[i] = t.path
	}
	return out
}
