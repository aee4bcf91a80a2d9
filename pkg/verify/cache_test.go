package verify

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCacheSharesOneEvaluation(t *testing.T) {
	var runs atomic.Int32
	slow := Func{CheckName: "slow", Fn: func(context.Context) Result {
		runs.Add(1)
		time.Sleep(50 * time.Millisecond)
		return Ok("fine")
	}}
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	c := NewCache([]Check{slow}, 10*time.Second, time.Second, "n1")
	c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r, err := c.Get(context.Background()); err != nil || r.Status != OK {
				t.Errorf("%+v %v", r, err)
			}
		}()
	}
	wg.Wait()
	if n := runs.Load(); n != 1 {
		t.Fatalf("200 concurrent probes ran the checks %d times, want 1", n)
	}
	c.Get(context.Background())
	mu.Lock()
	now = now.Add(11 * time.Second)
	mu.Unlock()
	c.Get(context.Background())
	if n := runs.Load(); n != 2 {
		t.Fatalf("after the TTL: %d runs, want 2", n)
	}
	c.SetChecks([]Check{slow}, 10*time.Second, time.Second, "n1")
	if _, ok := c.Last(); ok {
		t.Fatal("a reload must drop the cached report")
	}
}

func TestCacheTimesOutAHungCheck(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	hung := Func{CheckName: "nfs", Fn: func(context.Context) Result { <-block; return Ok("") }}
	fine := Func{CheckName: "fine", Fn: func(context.Context) Result { return Ok("") }}
	c := NewCache([]Check{hung, fine}, time.Second, 100*time.Millisecond, "")
	start := time.Now()
	r, err := c.Get(context.Background())
	if err != nil || time.Since(start) > time.Second {
		t.Fatalf("took %s, %v", time.Since(start), err)
	}
	if r.Results[0].Status != Unknown || r.Results[1].Status != OK || r.Status != Unknown {
		t.Fatalf("%+v", r)
	}
	// A caller that gives up does not wait for the run.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c2 := NewCache([]Check{hung}, time.Second, time.Minute, "")
	if _, err := c2.Get(ctx); err == nil {
		t.Fatal("cancelled caller got a report")
	}
}
