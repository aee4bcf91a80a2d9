package credentials

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func seeded() func(int64) int64 { return rand.New(rand.NewPCG(1, 2)).Int64N }

func TestScheduleJitterBounds(t *testing.T) {
	s := &Schedule{Interval: 6 * time.Hour, Jitter: 36 * time.Minute, Rand: seeded()}
	first := s.Next(t0)
	if !first.After(t0) || first.After(t0.Add(6*time.Hour)) {
		t.Fatalf("first offset %s outside (0, 6h]", first.Sub(t0))
	}
	var minD, maxD time.Duration = time.Hour * 100, 0
	for i := 0; i < 2000; i++ {
		d := s.Next(t0).Sub(t0)
		minD, maxD = min(minD, d), max(maxD, d)
	}
	if minD < 6*time.Hour || maxD > 6*time.Hour+36*time.Minute {
		t.Fatalf("intervals span %s..%s, want within 6h..6h36m", minD, maxD)
	}
	// Jitter must really spread nodes: the draws cover most of the window.
	if maxD-minD < 30*time.Minute {
		t.Fatalf("jitter barely varies: %s..%s", minD, maxD)
	}
}

func TestScheduleFirstOffsetsSpreadNodes(t *testing.T) {
	r := seeded()
	var firsts []time.Duration
	for node := 0; node < 200; node++ {
		s := &Schedule{Interval: time.Hour, Jitter: 0, Rand: r}
		firsts = append(firsts, s.Next(t0).Sub(t0))
	}
	lo, hi := slicesMinMax(firsts)
	if lo > 5*time.Minute || hi < 55*time.Minute {
		t.Fatalf("200 nodes booted together first refresh within %s..%s; want spread over the hour", lo, hi)
	}
}

func TestScheduleDeadlineCountsOnce(t *testing.T) {
	s := &Schedule{Interval: time.Hour, Jitter: time.Minute, Rand: seeded()}
	s.Next(t0)
	s.SetDeadline(t0.Add(10 * time.Minute))
	if got := s.Next(t0); !got.Equal(t0.Add(10 * time.Minute)) {
		t.Fatalf("deadline ignored: %s", got)
	}
	if got := s.Next(t0); got.Before(t0.Add(time.Hour)) {
		t.Fatalf("deadline used twice: %s", got)
	}
	s.SetDeadline(t0.Add(-time.Minute))
	if got := s.Next(t0); !got.Equal(t0) {
		t.Fatalf("a past deadline must mean now, got %s", got)
	}
	s.SetDeadline(t0.Add(5 * time.Hour))
	if got := s.Next(t0); got.After(t0.Add(time.Hour + time.Minute)) {
		t.Fatalf("a late deadline must not delay the interval: %s", got)
	}
}

func TestRetryDelayCappedFullJitter(t *testing.T) {
	r := seeded()
	for n := 1; n <= 12; n++ {
		ceil := min(30*time.Second<<(n-1), 15*time.Minute)
		var lo, hi time.Duration = time.Hour, 0
		for i := 0; i < 500; i++ {
			d := retryDelay(n, 30*time.Second, 15*time.Minute, r)
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo < time.Second || hi > ceil {
			t.Fatalf("failure %d: delays %s..%s outside [1s, %s]", n, lo, hi, ceil)
		}
		if hi < ceil*3/4 || lo > ceil/4 {
			t.Fatalf("failure %d: delays %s..%s do not use the full window up to %s", n, lo, hi, ceil)
		}
	}
	if d := retryDelay(3, 30*time.Second, 15*time.Minute, func(n int64) int64 { return n - 1 }); d != 2*time.Minute {
		t.Fatalf("third failure ceiling %s, want 2m", d)
	}
}

func TestEarlyRefresh(t *testing.T) {
	cases := []struct {
		life, want time.Duration
	}{
		{12 * time.Hour, 10 * time.Hour},  // refresh_before_expiry decides
		{3 * time.Hour, 90 * time.Minute}, // half the remaining life
		{40 * time.Second, 30 * time.Second},
	}
	for _, c := range cases {
		got := earlyRefresh(t0, t0.Add(c.life), 2*time.Hour, 30*time.Second).Sub(t0)
		if got != c.want {
			t.Errorf("token living %s: early refresh after %s, want %s", c.life, got, c.want)
		}
	}
}

func slicesMinMax(ds []time.Duration) (time.Duration, time.Duration) {
	lo, hi := ds[0], ds[0]
	for _, d := range ds {
		lo, hi = min(lo, d), max(hi, d)
	}
	return lo, hi
}

func TestCronLoggerAdapter(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	l := cronLogger{zap.New(core)}
	l.Info("wake", "now", t0)
	l.Error(errors.New("boom"), "panic", "stack", "...")
	all := logs.AllUntimed()
	if len(all) != 2 || all[0].Level != zap.DebugLevel || all[0].Message != "cron: wake" || all[0].ContextMap()["now"] != t0 {
		t.Fatalf("info: %+v", all)
	}
	if all[1].Level != zap.ErrorLevel || all[1].ContextMap()["error"] != "boom" || all[1].ContextMap()["stack"] != "..." {
		t.Fatalf("error: %+v", all[1])
	}
}
