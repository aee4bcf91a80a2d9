package bench

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
)

// repairRounds is how many times each kind of drift is made per run.
const repairRounds = 2

// BenchmarkDriftRepair: the daemon (verify.interval 10s, cache_ttl 1s) on a
// converged node, damaged by hand again and again; each time, how long from
// the damage to the daemon's own repair, read from its log: nothing asks
// /verify meanwhile (an evaluation someone asks for would make the daemon
// act at once), so this is the node nobody probes. The damage lands at a
// random moment of the check interval (a random wait of 0..10s before it),
// so the median includes the expected wait for the next check. The repair
// alone, from the failing check to the status "ready" again, is read from
// the log too; a deleted credentials file is put back before the check
// even fails, with no converge.
func BenchmarkDriftRepair(b *testing.B) {
	for i := 0; i < b.N; i++ {
		n := newNode(b)
		healthy(b, n)
		n.apply(b)
		d := startDaemonWith(b, n, "  interval: 10s\n  cache_ttl: 1s\n")
		d.waitReady(b, 90*time.Second)
		var took []time.Duration
		for r := 0; r < repairRounds; r++ {
			for _, damage := range drifts(n.root) {
				time.Sleep(rand.N(10 * time.Second))
				at := time.Now()
				if err := damage(); err != nil {
					b.Fatal(err)
				}
				took = append(took, d.waitRepaired(b, at, 60*time.Second))
			}
		}
		_ = d.cmd.Process.Kill()
		<-d.done
		repairs := repairTimes(b, d.log.String())
		if converged := len(took) - repairRounds; len(repairs) < converged {
			b.Fatalf("%d repairs logged for %d drifts a converge repairs:\n%s", len(repairs), converged, d.log.String())
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

// logEvent is one line of the daemon's JSON log.
type logEvent struct {
	at          time.Time
	msg, status string
}

func (d *daemon) events() []logEvent {
	var out []logEvent
	for _, line := range strings.Split(d.log.String(), "\n") {
		var e struct{ Ts, Msg, Status string }
		if json.Unmarshal([]byte(line), &e) != nil {
			continue
		}
		if ts, err := time.Parse(time.RFC3339Nano, e.Ts); err == nil {
			out = append(out, logEvent{ts, e.Msg, e.Status})
		}
	}
	return out
}

// waitReady waits for the daemon's first "ready" status.
func (d *daemon) waitReady(b *testing.B, within time.Duration) {
	b.Helper()
	if !fake.Eventually(within, func() bool {
		for _, e := range d.events() {
			if e.msg == "status" && strings.HasPrefix(e.status, "ready: ") {
				return true
			}
		}
		return false
	}) {
		b.Fatalf("the daemon never said ready:\n%s", d.log.String())
	}
}

// waitRepaired watches the daemon's log for the repair of damage made at
// since: the credentials files restored, or the status back to "ready"
// after it had left it; it returns how long after since that was.
func (d *daemon) waitRepaired(b *testing.B, since time.Time, within time.Duration) time.Duration {
	b.Helper()
	var took time.Duration
	if !fake.Eventually(within, func() bool {
		left := false
		for _, e := range d.events() {
			switch {
			case !e.at.After(since):
			case e.msg == "restored the credentials files from the tokens held (no ECR call)":
				took = e.at.Sub(since)
				return true
			case e.msg == "status" && !strings.HasPrefix(e.status, "ready: "):
				left = true
			case e.msg == "status" && left:
				took = e.at.Sub(since)
				return true
			}
		}
		return false
	}) {
		b.Fatalf("no repair logged within %s of the damage:\n%s", within, d.log.String())
	}
	return took
}
