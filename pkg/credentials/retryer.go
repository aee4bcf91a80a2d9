package credentials

import (
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
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
	std := retry.NewStandard(func(o *retry.StandardOptions) { o.MaxBackoff = maxBackoff })
	return &callRetryer{RetryerV2: std}
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
