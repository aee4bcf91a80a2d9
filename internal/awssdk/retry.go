package awssdk

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/enroot-agent/enroot-agent/internal/backoff"
)

// callRetryer is the SDK retryer of one GetAuthorizationToken call. It
// retries throttling with no attempt limit, for as long as the call's
// context (ecr.timeout) allows: when a whole cluster boots at once the
// account's quota makes most nodes wait longer than the SDK's few attempts
// last, and a node that gave up would fail its boot-time apply (see
// BENCHMARKS.md, boot storm). Other retryable errors (5xx, connection
// resets) still get at most otherAttempts attempts. It remembers the last
// retried error, so a call that runs out of time says why.
type callRetryer struct {
	aws.RetryerV2
	mu     sync.Mutex
	others int
	last   error
}

const otherAttempts = 5

func newCallRetryer(maxBackoff time.Duration) *callRetryer {
	std := retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxBackoff = maxBackoff
		o.Backoff = equalJitter{max: maxBackoff, rand: rand.Int64N}
	})
	return &callRetryer{RetryerV2: std}
}

// equalJitter waits between half and all of 2s doubled per attempt, capped
// at max. The SDK's default backoff stops jittering once it reaches its cap
// (every later delay is exactly the cap), so a whole cluster throttled at
// boot retries in lockstep, and the quota refilled between those waves goes
// unused: with 2,000 nodes that made the storm 1.85x of its ideal length.
// Keeping half of each delay fixed also keeps the attempt count down while
// the quota is scarce (BENCHMARKS.md, boot storm).
type equalJitter struct {
	max  time.Duration
	rand func(int64) int64
}

func (e equalJitter) BackoffDelay(attempt int, _ error) (time.Duration, error) {
	d := backoff.Exp(2*time.Second, e.max, attempt)
	return backoff.Jitter(d, d/2, e.rand), nil
}

// MaxAttempts is 0, no limit: IsErrorRetryable and the context decide.
func (c *callRetryer) MaxAttempts() int { return 0 }

func (c *callRetryer) IsErrorRetryable(err error) bool {
	if !c.RetryerV2.IsErrorRetryable(err) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = err
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary {
		return true
	}
	c.others++
	return c.others < otherAttempts
}

// lastRetried is the last error that was retried, nil if none.
func (c *callRetryer) lastRetried() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}
