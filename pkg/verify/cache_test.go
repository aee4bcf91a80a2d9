package verify

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// Under synctest the slow check's sleep and the TTL run on the bubble's
// clock: the probes all arrive while the one evaluation runs, however
// loaded the machine is.
func TestCacheSharesOneEvaluation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var runs atomic.Int32
		slow := Func{CheckName: "slow", Fn: func(context.Context) Result {
			runs.Add(1)
			time.Sleep(50 * time.Millisecond)
			return Ok("fine")
		}}
		c := NewCache([]Check{slow}, 10*time.Second, time.Second, "n1")
		var observed []Report
		c.Observe(func(r Report) { observed = append(observed, r) })
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
		time.Sleep(11 * time.Second)
		c.Get(context.Background())
		if n := runs.Load(); n != 2 {
			t.Fatalf("after the TTL: %d runs, want 2", n)
		}
		// Every evaluation is observed once, whoever asked for it.
		if len(observed) != 2 || !observed[1].Checked.After(observed[0].Checked) {
			t.Fatalf("observed %d reports, want one per evaluation: %+v", len(observed), observed)
		}
		c.SetChecks([]Check{slow}, 10*time.Second, time.Second, "n1")
		if _, ok := c.Last(); ok {
			t.Fatal("a reload must drop the cached report")
		}
	})
}

// An evaluation that the checks were replaced during is neither cached nor
// observed: it describes the old config.
func TestCacheDoesNotObserveAStaleRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		old := Func{CheckName: "old", Fn: func(context.Context) Result { <-release; return Failf("", "old config") }}
		fresh := Func{CheckName: "new", Fn: func(context.Context) Result { return Ok("") }}
		c := NewCache([]Check{old}, time.Second, time.Minute, "")
		var observed []string
		c.Observe(func(r Report) { observed = append(observed, r.Results[0].Name) })
		done := make(chan Report)
		go func() { r, _ := c.Get(context.Background()); done <- r }()
		synctest.Wait()
		c.SetChecks([]Check{fresh}, time.Second, time.Minute, "")
		close(release)
		if r := <-done; r.Results[0].Name != "new" {
			t.Fatalf("the caller got %+v, want the new checks' report", r)
		}
		if len(observed) != 1 || observed[0] != "new" {
			t.Fatalf("observed %v, want only the new checks' report", observed)
		}
	})
}

func TestCacheTimesOutAHungCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		block := make(chan struct{})
		defer close(block)
		hung := Func{CheckName: "nfs", Fn: func(context.Context) Result { <-block; return Ok("") }}
		fine := Func{CheckName: "fine", Fn: func(context.Context) Result { return Ok("") }}
		c := NewCache([]Check{hung, fine}, time.Second, 100*time.Millisecond, "")
		start := time.Now()
		r, err := c.Get(context.Background())
		if took := time.Since(start); err != nil || took != 100*time.Millisecond {
			t.Fatalf("took %s, want exactly the 100ms timeout; %v", took, err)
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
	})
}
