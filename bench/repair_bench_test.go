package bench

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
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
// so the median includes the expected wait for the next check.
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
		sortDurations(took)
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
