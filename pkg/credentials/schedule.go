package credentials

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// Schedule is a robfig/cron Schedule: every Interval plus a random delay of
// up to Jitter, so nodes that booted together drift apart instead of calling
// ECR in the same second forever. The first time is at a random offset
// within one interval after the refresh that started the node. A deadline,
// set after each run, pulls the next time earlier (an early refresh before a
// token expires, or a retry after a failure).
type Schedule struct {
	Interval time.Duration
	Jitter   time.Duration
	// Rand returns a uniform value in [0, n); n > 0.
	Rand func(n int64) int64

	mu       sync.Mutex
	started  bool
	deadline time.Time
}

// Next implements cron.Schedule.
func (s *Schedule) Next(now time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next time.Time
	if !s.started {
		s.started = true
		next = now.Add(time.Duration(1 + s.Rand(int64(s.Interval))))
	} else {
		next = now.Add(s.Interval + time.Duration(s.Rand(int64(s.Jitter)+1)))
	}
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

// SetDeadline makes the next Next return no later than t.
func (s *Schedule) SetDeadline(t time.Time) {
	s.mu.Lock()
	s.deadline = t
	s.mu.Unlock()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
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
