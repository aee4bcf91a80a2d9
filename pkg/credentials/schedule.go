package credentials

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/backoff"
	"github.com/robfig/cron/v3"
	"go.uber.org/zap"
)

// schedule is a robfig/cron Schedule for the token refresh.
//
// With a Slot, every run falls at the same point of the interval, counted
// from the Unix epoch: a node's slot comes from its IPv4 address (see
// addressSlot), so the nodes of one VPC, whose addresses differ, refresh at
// distinct, evenly spaced moments instead of at random ones. Independent
// random schedules make a Poisson process: 10,000 nodes at 6 h put 6 or 7
// calls into some second of every week (BENCHMARKS.md, fleet spread), while
// slots of one /16 are interval/65536 apart (0.33 s at 6 h), so no second
// holds more than 4, however many nodes there are.
//
// Without a slot (no IPv4 address), every Interval plus a random delay of
// up to Jitter, so nodes that booted together drift apart; the first time is
// then at a random offset within one interval after the refresh that started
// the node. Either way, a deadline set after each run pulls the next time
// earlier (an early refresh before a token expires, or a retry after a
// failure).
type schedule struct {
	Interval time.Duration
	Jitter   time.Duration
	// Slot places every run at this offset into the interval; ignored
	// unless HasSlot.
	Slot    time.Duration
	HasSlot bool
	// Rand returns a uniform value in [0, n); n > 0.
	Rand func(n int64) int64

	mu       sync.Mutex
	started  bool
	deadline time.Time
}

// Next implements cron.Schedule.
func (s *schedule) Next(now time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next time.Time
	switch {
	case s.HasSlot:
		next = nextSlot(now, s.Interval, s.Slot)
	case !s.started:
		next = now.Add(time.Duration(1 + s.Rand(int64(s.Interval))))
	default:
		next = now.Add(s.Interval + time.Duration(s.Rand(int64(s.Jitter)+1)))
	}
	s.started = true
	// A deadline counts once: cron asks again when a run starts, before that
	// run's outcome is known, and the refresher sets a new one after it.
	if d := s.deadline; !d.IsZero() {
		s.deadline = time.Time{}
		if d.Before(next) {
			next = later(d, now)
		}
	}
	return next
}

// nextSlot is the first time after now that lies slot into an interval
// counted from the Unix epoch.
func nextSlot(now time.Time, interval, slot time.Duration) time.Time {
	ns, iv := now.UnixNano(), int64(interval)
	k := (ns - int64(slot)) / iv
	t := k*iv + int64(slot)
	for t <= ns {
		t += iv
	}
	return time.Unix(0, t).In(now.Location())
}

// setDeadline makes the next Next return no later than t.
func (s *schedule) setDeadline(t time.Time) {
	s.mu.Lock()
	s.deadline = t
	s.mu.Unlock()
}

// addressSlot is a node's place in the interval: the low 16 bits of its
// IPv4 address, as a fraction of the interval. An AWS VPC is at most a /16,
// so within one CIDR block of a VPC every node has its own slot; nodes of
// different blocks may share one. ok is false for anything but IPv4, whose
// low bits are no such identity.
func addressSlot(addr netip.Addr, interval time.Duration) (slot time.Duration, ok bool) {
	if !addr.Unmap().Is4() {
		return 0, false
	}
	b := addr.Unmap().As4()
	low := uint64(b[2])<<8 | uint64(b[3])
	return time.Duration(low * uint64(interval) / 65536), true
}

// primaryIPv4 is the address this node's traffic to the outside leaves
// from: connecting a UDP socket only asks the kernel for a route, and sends
// nothing. The zero Addr means none (no default route).
func primaryIPv4() netip.Addr {
	c, err := net.Dial("udp4", "192.0.2.1:9") // TEST-NET-1: never reached
	if err != nil {
		return netip.Addr{}
	}
	defer c.Close()
	if ua, ok := c.LocalAddr().(*net.UDPAddr); ok {
		if a, ok := netip.AddrFromSlice(ua.IP); ok && !a.Unmap().IsLoopback() {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

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
	sched := &schedule{Interval: every, Jitter: every / 10, Rand: func(n int64) int64 { return r.rand(n) }}
	sched.started = true // the refresh that started the node read them
	job := cron.NewChain(cron.SkipIfStillRunning(logger), cron.Recover(logger)).Then(cron.FuncJob(func() {
		if ctx.Err() == nil {
			_ = r.refreshSecrets(ctx) // logged and recorded
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
	r.sched.setDeadline(r.deadline(r.now()))
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
		// After the n-th consecutive failure, uniform in [1s,
		// min(retry_max, retry_initial*2^(n-1))]: full jitter spreads a
		// cluster whose nodes all failed at once (an ECR or IMDS outage)
		// over the whole window, so they do not retry in lockstep.
		retry := backoff.Exp(e.RetryInitial.D(), e.RetryMax.D(), r.failures)
		earlier(now.Add(backoff.Jitter(retry, time.Second, r.rand)))
	}
	for _, tok := range r.held {
		earlier(earlyRefresh(now, tok.ExpiresAt, e.RefreshBeforeExpiry.D(), e.RetryInitial.D()))
		earlier(tok.ExpiresAt)
	}
	return d
}

// earlyRefresh is when a token expiring at exp should be replaced: before
// it has less than before left, but never sooner than half its remaining
// life nor than floor from now, so a short-lived token cannot make the
// refresher spin.
func earlyRefresh(now, exp time.Time, before, floor time.Duration) time.Time {
	t := exp.Add(-before)
	t = later(t, now.Add(exp.Sub(now)/2))
	return later(t, now.Add(floor))
}

// cronLogger adapts zap to cron's logr-style Logger. cron's Info lines
// ("wake", "run", "schedule") are chatter, so they go to debug.
type cronLogger struct{ log *zap.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.log.Debug("cron: "+msg, fields(kv)...) }

func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.log.Error("cron: "+msg, append(fields(kv), zap.Error(err))...)
}

func fields(kv []any) []zap.Field {
	var out []zap.Field
	for i := 0; i+1 < len(kv); i += 2 {
		key, ok := kv[i].(string)
		if !ok {
			key = "key"
		}
		out = append(out, zap.Any(key, kv[i+1]))
	}
	return out
}
