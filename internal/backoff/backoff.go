package backoff

import "time"

// Exp is the delay before the n-th retry (n >= 1): initial doubled n-1
// times, never more than max.
func Exp(initial, max time.Duration, n int) time.Duration {
	d := initial
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// Jitter spreads d uniformly over [lo, d]; a d no longer than lo is kept.
// rand(n) returns a number in [0, n), like math/rand/v2's Int64N.
func Jitter(d, lo time.Duration, rand func(int64) int64) time.Duration {
	if d <= lo {
		return d
	}
	return lo + time.Duration(rand(int64(d-lo)+1))
}
