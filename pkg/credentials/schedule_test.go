package credentials

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func seeded() func(int64) int64 { return rand.New(rand.NewPCG(1, 2)).Int64N }

func TestScheduleJitterBounds(t *testing.T) {
	s := &schedule{Interval: 6 * time.Hour, Jitter: 36 * time.Minute, Rand: seeded()}
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
		s := &schedule{Interval: time.Hour, Jitter: 0, Rand: r}
		firsts = append(firsts, s.Next(t0).Sub(t0))
	}
	lo, hi := slicesMinMax(firsts)
	if lo > 5*time.Minute || hi < 55*time.Minute {
		t.Fatalf("200 nodes booted together first refresh within %s..%s; want spread over the hour", lo, hi)
	}
}

func TestScheduleDeadlineCountsOnce(t *testing.T) {
	s := &schedule{Interval: time.Hour, Jitter: time.Minute, Rand: seeded()}
	s.Next(t0)
	s.setDeadline(t0.Add(10 * time.Minute))
	if got := s.Next(t0); !got.Equal(t0.Add(10 * time.Minute)) {
		t.Fatalf("deadline ignored: %s", got)
	}
	if got := s.Next(t0); got.Before(t0.Add(time.Hour)) {
		t.Fatalf("deadline used twice: %s", got)
	}
	s.setDeadline(t0.Add(-time.Minute))
	if got := s.Next(t0); !got.Equal(t0) {
		t.Fatalf("a past deadline must mean now, got %s", got)
	}
	s.setDeadline(t0.Add(5 * time.Hour))
	if got := s.Next(t0); got.After(t0.Add(time.Hour + time.Minute)) {
		t.Fatalf("a late deadline must not delay the interval: %s", got)
	}
}

// After the n-th failure the next refresh comes at most
// ecr.retry_initial doubled n-1 times (capped at ecr.retry_max), and at
// least 1s from now, spread over that whole window.
func TestRetryDelayCappedFullJitter(t *testing.T) {
	cfg := config.Default()
	cfg.ECR.RetryInitial, cfg.ECR.RetryMax = config.Duration(30*time.Second), config.Duration(15*time.Minute)
	// With no token held, only the failures decide the deadline.
	retryDelay := func(n int, rand func(int64) int64) time.Duration {
		r := &Refresher{cfg: cfg, rand: rand, failures: n, held: map[string]Token{}}
		return r.deadline(t0).Sub(t0)
	}
	r := seeded()
	for n := 1; n <= 12; n++ {
		ceil := min(30*time.Second<<(n-1), 15*time.Minute)
		var lo, hi time.Duration = time.Hour, 0
		for i := 0; i < 500; i++ {
			d := retryDelay(n, r)
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo < time.Second || hi > ceil {
			t.Fatalf("failure %d: delays %s..%s outside [1s, %s]", n, lo, hi, ceil)
		}
		if hi < ceil*3/4 || lo > ceil/4 {
			t.Fatalf("failure %d: delays %s..%s do not use the full window up to %s", n, lo, hi, ceil)
		}
	}
	if d := retryDelay(3, func(n int64) int64 { return n - 1 }); d != 2*time.Minute {
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

func TestAddressSlot(t *testing.T) {
	for _, c := range []struct {
		addr string
		want time.Duration
		ok   bool
	}{
		{"10.0.0.0", 0, true},
		{"10.0.128.0", 3 * time.Hour, true},
		{"172.31.64.0", 90 * time.Minute, true},
		{"192.168.255.255", time.Duration(65535 * int64(6*time.Hour) / 65536), true},
		{"::ffff:10.0.64.0", 90 * time.Minute, true},
		{"2001:db8::1", 0, false},
	} {
		got, ok := addressSlot(netip.MustParseAddr(c.addr), 6*time.Hour)
		if got != c.want || ok != c.ok {
			t.Errorf("addressSlot(%s) = %s, %v; want %s, %v", c.addr, got, ok, c.want, c.ok)
		}
	}
}

func TestScheduleSlotIsAFixedPointOfTheInterval(t *testing.T) {
	s := &schedule{Interval: 6 * time.Hour, Slot: 90 * time.Minute, HasSlot: true, Rand: seeded()}
	// t0 is 03:04:05 UTC: the next 6h boundary plus 90m is 07:30.
	want := time.Date(2026, 1, 2, 7, 30, 0, 0, time.UTC)
	if got := s.Next(t0); !got.Equal(want) {
		t.Fatalf("first run at %s, want %s", got, want)
	}
	// A run at its slot is followed by the same slot one interval later.
	if got := s.Next(want); !got.Equal(want.Add(6 * time.Hour)) {
		t.Fatalf("after the slot: %s", got)
	}
	// A retry that ran off the slot returns to it.
	if got := s.Next(want.Add(17 * time.Minute)); !got.Equal(want.Add(6 * time.Hour)) {
		t.Fatalf("after an off-slot run: %s", got)
	}
	s.setDeadline(t0.Add(time.Minute))
	if got := s.Next(t0); !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("a deadline must still pull the slot earlier: %s", got)
	}
}

// Nodes booted in the same second with neighbouring addresses are spread
// over the interval, each 0.33 s (6h/65536) from the next.
func TestSlotsOfNeighboursAreApart(t *testing.T) {
	var prev time.Time
	for i := 0; i < 300; i++ {
		slot, _ := addressSlot(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 6*time.Hour)
		s := &schedule{Interval: 6 * time.Hour, Slot: slot, HasSlot: true}
		next := s.Next(t0)
		if i > 0 && next.Sub(prev) != 6*time.Hour/65536 && next.Sub(prev) != 6*time.Hour/65536+time.Nanosecond {
			t.Fatalf("node %d runs %s after its neighbour", i, next.Sub(prev))
		}
		prev = next
	}
}

func TestPrimaryIPv4IsNotLoopback(t *testing.T) {
	a := primaryIPv4()
	if a.IsValid() && (!a.Is4() || a.IsLoopback()) {
		t.Fatalf("primaryIPv4 = %s", a)
	}
}

// The refresher takes its slot from this machine's address and says so when
// its schedule starts, so an admin can tell when the node calls ECR.
func TestRefresherLogsItsSlot(t *testing.T) {
	r, _, _, logs, _ := fixture(t, "ecr:\n  registries: [111122223333.dkr.ecr.us-east-1.amazonaws.com]\n")
	addr := primaryIPv4()
	if r.sched.HasSlot != addr.IsValid() {
		t.Fatalf("address %s, schedule has a slot: %v", addr, r.sched.HasSlot)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.Start(ctx)
	<-r.Stop().Done()
	want := "token refresh at random points"
	if addr.IsValid() {
		want = "token refresh slot"
	}
	if !strings.Contains(logs.String(), want) {
		t.Fatalf("no %q in the log:\n%s", want, logs.String())
	}
}
