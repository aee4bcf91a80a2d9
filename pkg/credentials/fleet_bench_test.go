package credentials

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// BenchmarkFleetSpread simulates, on a fake clock, 10,000 nodes that boot
// within the same minute and refresh for 7 days with the agent's own
// Schedule and the refresher's own deadline rule (early refresh before a
// token runs low). It reports the peak GetAuthorizationToken calls in any
// 1-second window after the first day, the mean rate, and the least time a
// token had left when it was replaced; that must stay above
// ecr.refresh_before_expiry.
//
// "slots": every node has its own IPv4 address, drawn at random from one
// /16 VPC (as a ParallelCluster queue's subnets are), and refreshes at its
// address's slot. "random": no node has an address, so each interval is
// stretched at random (ecr.refresh_jitter), the schedule before slots.
func BenchmarkFleetSpread(b *testing.B) {
	for _, mode := range []string{"slots", "random"} {
		b.Run(mode, func(b *testing.B) {
			const nodes, days = 10000, 7
			cfg := config.Default()
			for i := 0; i < b.N; i++ {
				fleetRuns++ // each run of -count simulates a different fleet
				rng := rand.New(rand.NewPCG(fleetRuns, 42))
				addrs := rng.Perm(65536)[:nodes]
				calls, margin := simulateFleet(cfg, days, rng, addrs, mode == "slots")
				sliding, binned, mean := callPeaks(calls, 24*time.Hour, days*24*time.Hour)
				if before := cfg.ECR.RefreshBeforeExpiry.D(); margin <= before {
					b.Errorf("a token was replaced with only %s left, within refresh_before_expiry %s", margin, before)
				}
				b.ReportMetric(float64(sliding), "peak_calls/1s_window")
				b.ReportMetric(float64(binned), "peak_calls/clock_second")
				b.ReportMetric(mean, "mean_calls/s")
				b.ReportMetric(margin.Hours(), "min_token_left_h")
			}
		})
	}
}

var fleetRuns uint64

// simulateFleet returns every call's time since the first boot, and the
// least life a token had left when its node replaced it. addrs holds each
// node's low 16 address bits.
func simulateFleet(cfg config.Config, days int, rng *rand.Rand, addrs []int, slots bool) ([]time.Duration, time.Duration) {
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := epoch.Add(time.Duration(days) * 24 * time.Hour)
	const life = 12 * time.Hour // what ECR issues
	var calls []time.Duration
	margin := life
	for _, low := range addrs {
		r := &Refresher{cfg: cfg, rand: rng.Int64N, held: map[string]Token{}}
		s := &schedule{Interval: cfg.ECR.RefreshInterval.D(), Jitter: cfg.ECR.RefreshJitter.D(), Rand: rng.Int64N}
		if slots {
			s.Slot, s.HasSlot = addressSlot(netip.AddrFrom4([4]byte{10, 0, byte(low >> 8), byte(low)}), s.Interval)
		}
		// apply's refresh at boot, then the daemon's schedule starts.
		now := epoch.Add(time.Duration(rng.Int64N(int64(time.Minute))))
		for now.Before(end) {
			if tok, ok := r.held["reg"]; ok {
				margin = min(margin, tok.ExpiresAt.Sub(now))
			}
			calls = append(calls, now.Sub(epoch))
			r.held["reg"] = Token{ExpiresAt: now.Add(life)}
			s.setDeadline(r.deadline(now)) // reschedule after the run
			next := s.Next(now)
			s.Next(next) // cron asks again when the run starts; the answer is replaced
			now = next
		}
	}
	return calls, margin
}

// callPeaks gives the most calls in any sliding 1-second window and in any
// wall-clock second within [from, to), and the mean rate there.
func callPeaks(calls []time.Duration, from, to time.Duration) (sliding, binned int, mean float64) {
	var in []time.Duration
	for _, c := range calls {
		if c >= from && c < to {
			in = append(in, c)
		}
	}
	slices.Sort(in)
	bins := map[time.Duration]int{}
	for lo, hi := 0, 0; hi < len(in); hi++ {
		for in[hi]-in[lo] >= time.Second {
			lo++
		}
		sliding = max(sliding, hi-lo+1)
		sec := in[hi].Truncate(time.Second)
		bins[sec]++
		binned = max(binned, bins[sec])
	}
	return sliding, binned, float64(len(in)) / (to - from).Seconds()
}
