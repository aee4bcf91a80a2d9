package bench

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// repairRounds is how many times each kind of drift is made per run.
const repairRounds = 2

// BenchmarkDriftRepair: the daemon (verify.interval 10s, cache_ttl 1s) on a
// converged node, damaged by hand again and again; each time, how long from
// the damage to a /verify 200 evaluated after it. The damage lands at a
// random moment of the check interval (a random wait of 0..10s before it),
// so the median includes the expected wait for the next check. The repair
// alone, from the failing check to the status "ready" again, is read from
// the daemon's log.
func BenchmarkDriftRepair(b *testing.B) {
	for i := 0; i < b.N; i++ {
		n := newNode(b)
		healthy(b, n)
		n.apply(b)
		d := startDaemonWith(b, n, "  interval: 10s\n  cache_ttl: 1s\n")
		d.waitRepaired(b, time.Now(), 90*time.Second)
		var took []time.Duration
		for r := 0; r < repairRounds; r++ {
			for _, damage := range drifts(n.root) {
				time.Sleep(rand.N(10 * time.Second))
				if err := damage(); err != nil {
					b.Fatal(err)
				}
				at := time.Now()
				took = append(took, d.waitRepaired(b, at, 60*time.Second))
			}
		}
		// /verify can answer 200 from the evaluation the daemon's own check
		// then shares, a moment before the daemon logs its status: let it.
		time.Sleep(2 * time.Second)
		_ = d.cmd.Process.Kill() // its log is read below: no writer may remain
		<-d.done
		repairs := repairTimes(b, d.log.String())
		if len(repairs) < len(took) {
			b.Fatalf("%d repairs logged for %d drifts:\n%s", len(repairs), len(took), d.log.String())
		}
		sortDurations(took)
		b.ReportMetric(ms(median(repairs)), "detect_to_ready_ms")
		b.ReportMetric(median(took).Seconds(), "repair_median_s")
		b.ReportMetric(took[0].Seconds(), "repair_min_s")
		b.ReportMetric(took[len(took)-1].Seconds(), "repair_max_s")
	}
}

// drifts are the damages an admin or a stray script does: each one a check
// finds and a converge changes back.
func drifts(root string) []func() error {
	return []func() error{
		func() error { // the include line deleted
			return os.WriteFile(filepath.Join(root, "opt/slurm/etc/plugstack.conf"), []byte("# emptied by hand\n"), 0o644)
		},
		func() error {
			return os.WriteFile(filepath.Join(root, "etc/enroot/enroot.conf"), []byte("ENROOT_RUNTIME_PATH /tmp\n"), 0o644)
		},
		func() error { return os.Remove(filepath.Join(root, "usr/local/lib/slurm/spank_pyxis.so")) },
		func() error { return os.Remove(filepath.Join(root, "run/enroot-agent/enroot-config/.credentials")) },
	}
}

// repairTimes reads, from the daemon's JSON log, how long each repair took:
// from "a check failed; converging" to the next status "ready: ...", which
// the daemon sets once the checks it runs after the converge all pass.
func repairTimes(b *testing.B, log string) []time.Duration {
	var out []time.Duration
	var started time.Time
	for _, line := range strings.Split(log, "\n") {
		var e struct{ Ts, Msg, Status string }
		if json.Unmarshal([]byte(line), &e) != nil {
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, e.Ts)
		switch {
		case err != nil:
		case e.Msg == "a check failed; converging to repair the drift":
			started = ts
		case e.Msg == "status" && strings.HasPrefix(e.Status, "ready: ") && !started.IsZero():
			out = append(out, ts.Sub(started))
			started = time.Time{}
		}
	}
	return out
}

// waitRepaired polls /verify until it answers 200 from an evaluation that
// started after since, and returns how long after since that was.
func (d *daemon) waitRepaired(b *testing.B, since time.Time, within time.Duration) time.Duration {
	b.Helper()
	var last string
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		code, body := httpGet(d.url + "/verify")
		var rep verify.Report
		if code == 200 && json.Unmarshal([]byte(body), &rep) == nil && rep.Checked.After(since) {
			return time.Since(since)
		}
		last = body
	}
	b.Fatalf("/verify not 200 within %s of the damage; last:\n%s", within, last)
	return 0
}
