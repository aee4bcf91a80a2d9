package verify

import (
	"context"
	"sync"
	"time"
)

// Report is one evaluation of every check.
type Report struct {
	Status  Status    `json:"status"`
	Node    string    `json:"node,omitempty"`
	Checked time.Time `json:"checked_at"`
	Results []Result  `json:"checks"`
	// Seq numbers a cache's evaluations in the order they ran (from 1; 0
	// for a report made without a cache): two reports can share a Checked
	// time, never a Seq.
	Seq uint64 `json:"-"`
}

// Cache serves one evaluation of the checks for TTL, and makes concurrent
// callers share a single evaluation, so a storm of health probes costs the
// node one run of the checks per TTL, whatever the request rate.
type Cache struct {
	TTL     time.Duration
	Timeout time.Duration // bounds one evaluation
	Node    string
	Now     func() time.Time

	mu       sync.Mutex
	checks   []Check
	last     *Report
	inflight chan struct{} // closed when the running evaluation ends
	gen      int           // bumped by SetChecks, so a stale run is not cached
	seq      uint64        // the last evaluation's Seq
	observe  func(Report)
}

// Observe has fn called with every report the cache evaluates, whoever
// asked for it (a probe, the CLI, the daemon's own schedule), right after
// it is stored and before any caller gets it: the daemon derives its
// STATUS=, drain and repairs from the very report /verify serves. fn must
// not block.
func (c *Cache) Observe(fn func(Report)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.observe = fn
}

// NewCache returns a cache over checks.
func NewCache(checks []Check, ttl, timeout time.Duration, node string) *Cache {
	return &Cache{TTL: ttl, Timeout: timeout, Node: node, Now: time.Now, checks: checks}
}

// SetChecks replaces the checks (after a config reload) and drops the
// cached report, which described the old config.
func (c *Cache) SetChecks(checks []Check, ttl, timeout time.Duration, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checks, c.TTL, c.Timeout, c.Node = checks, ttl, timeout, node
	c.last = nil
	c.gen++
}

// Get returns a report no older than TTL, evaluating the checks when
// needed. The evaluation is not tied to ctx: one impatient caller giving up
// must not cancel the run the others are waiting for. ctx only bounds how
// long this caller waits.
func (c *Cache) Get(ctx context.Context) (Report, error) {
	for {
		c.mu.Lock()
		if c.last != nil && c.Now().Sub(c.last.Checked) < c.TTL {
			r := *c.last
			c.mu.Unlock()
			return r, nil
		}
		if c.inflight == nil {
			c.inflight = make(chan struct{})
			go c.evaluate(c.inflight, c.gen, c.checks, c.Timeout, c.Node)
		}
		wait := c.inflight
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return Report{}, ctx.Err()
		}
		c.mu.Lock()
		r, stale := c.last, c.last == nil
		c.mu.Unlock()
		if !stale {
			return *r, nil
		}
		// The checks were replaced during the run: evaluate the new ones.
	}
}

// Last is the most recent report without evaluating anything (metrics use
// it, so a scrape never runs checks). ok is false before the first run.
func (c *Cache) Last() (Report, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		return Report{}, false
	}
	return *c.last, true
}

func (c *Cache) evaluate(done chan struct{}, gen int, checks []Check, timeout time.Duration, node string) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	results := RunAll(ctx, checks)
	rep := &Report{Status: Overall(results), Node: node, Checked: c.Now(), Results: results}
	c.mu.Lock()
	fresh := gen == c.gen
	if fresh {
		c.seq++
		rep.Seq = c.seq
		c.last = rep
	}
	c.inflight = nil
	observe := c.observe
	c.mu.Unlock()
	if fresh && observe != nil {
		observe(*rep)
	}
	close(done)
}

// Invalidate drops the cached report: the node just changed (a converge or
// a refresh), and the next probe must see it.
func (c *Cache) Invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = nil
	c.gen++
}
