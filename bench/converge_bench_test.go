package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// warmRuns is how many warm applies each benchmark run times; the median
// is reported.
const warmRuns = 15

// BenchmarkWarmApply: `enroot-agent apply --root <sandbox>` (the real binary)
// on a node where everything is in place and the token is fresh, against
// the cost of the seed's way, redoing everything on every boot, measured on
// the same sandbox by the agent with its caches, state and installs removed.
func BenchmarkWarmApply(b *testing.B) {
	for i := 0; i < b.N; i++ {
		n := newNode(b)
		healthy(b, n) // a real node's srun answers: it has a slurm.conf
		n.apply(b)    // converge once: now everything is in place
		var warm []time.Duration
		before, starts, downloads := testenv.Snapshot(b, n.root), n.started(), n.downloads()
		for r := 0; r < warmRuns; r++ {
			took, _ := n.apply(b)
			warm = append(warm, took)
		}
		writes := len(testenv.Changed(before, testenv.Snapshot(b, n.root)))
		procs := sum(n.started()) - sum(starts)
		if procs > 0 {
			b.Logf("tools started by the warm applies: %v (before them: %v)", n.started(), starts)
		}
		fetched := n.downloads() - downloads
		var seed []time.Duration
		for r := 0; r < 3; r++ {
			n.forget(b)
			took, _ := n.apply(b)
			seed = append(seed, took)
		}
		w, s := median(warm), median(seed)
		b.ReportMetric(ms(w), "warm_ms")
		b.ReportMetric(ms(s), "seed_redo_ms")
		b.ReportMetric(float64(s)/float64(w), "seed/warm")
		b.ReportMetric(float64(fetched), "warm_downloads")
		b.ReportMetric(float64(procs), "warm_tool_procs")
		b.ReportMetric(float64(writes), "warm_file_changes")
	}
}

// forget removes what the seed's way does not keep between boots: the
// agent's cache and state, the installed enroot packages, the built plugin
// and the credentials, so the next apply downloads, installs and builds
// everything again.
func (n *node) forget(b *testing.B) {
	b.Helper()
	if out, err := exec.Command("dpkg", "--root="+n.root, "--purge", "enroot+caps", "enroot").CombinedOutput(); err != nil {
		b.Fatalf("dpkg --purge: %v\n%s", err, out)
	}
	plugins, _ := filepath.Glob(filepath.Join(n.root, "usr/lib*/slurm/spank_pyxis.so"))
	for _, p := range append(plugins, "var/cache/enroot-agent", "var/lib/enroot-agent", "run/enroot-agent") {
		if !filepath.IsAbs(p) {
			p = filepath.Join(n.root, p)
		}
		if err := os.RemoveAll(p); err != nil {
			b.Fatal(err)
		}
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func sortStrings(s []string) { slices.Sort(s) }

func sortDurations(d []time.Duration) { slices.Sort(d) }
