package aws

import (
	"sync"
	"time"
)

// bucket is a token bucket: burst calls at once, then perSecond sustained,
// which is how AWS enforces API rate quotas (a per-second count would let
// twice the rate through across a second boundary).
type bucket struct {
	burst, perSecond float64
	tokens           float64
	last             time.Time
}

func (b *bucket) take(now time.Time) bool {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.perSecond)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Quota throttles calls beyond a token bucket of burst calls refilled at
// perSecond; burst 0 removes it.
func (e *ECR) Quota(burst int, perSecond float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.bucket = nil
	if burst > 0 {
		e.bucket = &bucket{burst: float64(burst), perSecond: perSecond, tokens: float64(burst), last: time.Now()}
	}
}

// Invocation is what the emulator saw of one SDK operation call, retries
// included (the SDK's amz-sdk-invocation-id header is the same on each).
type Invocation struct {
	Attempts int
	OK       time.Time // when a token was issued; zero if never
}

type invocations struct {
	mu  sync.Mutex
	ids map[string]*Invocation
}

func (v *invocations) attempt(id string) {
	if id == "" {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.ids == nil {
		v.ids = map[string]*Invocation{}
	}
	if v.ids[id] == nil {
		v.ids[id] = &Invocation{}
	}
	v.ids[id].Attempts++
}

func (v *invocations) ok(id string, at time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if inv := v.ids[id]; inv != nil {
		inv.OK = at
	}
}

// Invocations returns a copy of every invocation seen, by invocation id.
func (e *ECR) Invocations() map[string]Invocation {
	e.inv.mu.Lock()
	defer e.inv.mu.Unlock()
	out := make(map[string]Invocation, len(e.inv.ids))
	for id, inv := range e.inv.ids {
		out[id] = *inv
	}
	return out
}
