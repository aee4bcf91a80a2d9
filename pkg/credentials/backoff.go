package credentials

import (
	"time"

	"github.com/enroot-agent/enroot-agent/internal/backoff"
)

// retryDelay is capped exponential backoff with full jitter after the n-th
// consecutive failure (n >= 1): uniform in [1s, min(max, initial*2^(n-1))].
// Full jitter spreads a cluster whose nodes all failed at once (an ECR or
// IMDS outage) over the whole window, so they do not retry in lockstep.
func retryDelay(n int, initial, max time.Duration, rand func(int64) int64) time.Duration {
	return backoff.Jitter(backoff.Exp(initial, max, n), time.Second, rand)
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
