package bench

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/cluster"
	"github.com/enroot-agent/enroot-agent/pkg/pyxis"
)

// BenchmarkCluster: the cluster test bed's life, once per iteration, on
// the cached rootfs: bring-up (the nodes' overlays and files, four
// systemd-nspawn nodes booted to `running`, every compute node idle in
// Slurm 24.11.7), then ParallelCluster's bootstrap (head node, then the
// three compute nodes at once), each node's time from the start of its
// OnNodeConfigured action to the script's exit 0 once `enroot-agent
// verify` passes (ENROOT_AGENT_POLL=1), then Close.
func BenchmarkCluster(b *testing.B) {
	// make deb is not what is measured: built once, before the runs.
	deb, err := cluster.BuildPackage(context.Background(), b.TempDir(), "", "")
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := cluster.Rootfs("", b.Logf); err != nil { // built once, outside the timings
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		ctx := context.Background()
		c, err := cluster.New(ctx, cluster.Options{Package: deb.Path})
		if err != nil {
			b.Fatal(err)
		}
		pub, err := c.Publish(c.Package, nil)
		if err != nil {
			c.Close()
			b.Fatal(err)
		}
		results, err := c.BootstrapCluster(ctx, pub)
		if err != nil {
			c.Close()
			b.Fatal(err)
		}
		start := time.Now()
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
		closed := time.Since(start)
		var computes []float64
		for _, r := range results[1:] {
			computes = append(computes, seconds(r.Took))
		}
		slices.Sort(computes)
		b.ReportMetric(seconds(c.Timings.Total), "bringup_s")
		b.ReportMetric(seconds(c.Timings.Boot), "boot_s")
		b.ReportMetric(seconds(c.Timings.Idle), "idle_s")
		b.ReportMetric(seconds(results[0].Took), "head_bootstrap_s")
		b.ReportMetric(computes[len(computes)/2], "compute_bootstrap_median_s")
		b.ReportMetric(computes[len(computes)-1], "compute_bootstrap_max_s")
		b.ReportMetric(seconds(closed), "close_s")
	}
}

// BenchmarkClusterRootfs: debootstrap of the node rootfs into an empty
// cache, what the first run on a fresh machine pays (the mirror this
// machine's apt uses; its speed is part of the figure).
func BenchmarkClusterRootfs(b *testing.B) {
	for i := 0; i < b.N; i++ {
		dir, err := os.MkdirTemp("/var/tmp", "enroot-agent-bench-rootfs-")
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		root, built, err := cluster.Rootfs(dir, b.Logf)
		took := time.Since(start)
		if err == nil && !built {
			err = os.ErrExist
		}
		size := dirSize(root)
		if rerr := os.RemoveAll(dir); err == nil {
			err = rerr
		}
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(seconds(took), "debootstrap_s")
		b.ReportMetric(float64(size)/(1<<20), "rootfs_MiB")
	}
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
		return nil
	})
	return n
}

func seconds(d time.Duration) float64 { return d.Seconds() }

// BenchmarkClusterColdConverge: cold converge of a node with the shared
// Pyxis build, first node against later nodes. Per run, on a fresh cluster
// (cached rootfs, the .deb built once): the head node's OnNodeConfigured
// action first, the first node of the cluster, which builds Pyxis for
// Slurm 24.11 and publishes it in /opt/slurm/lib/enroot-agent; then each
// compute node's action alone, one after the other, so each is timed on a
// machine no other bootstrap loads: compute1 with pyxis.shared_dir "" (it
// compiles its own, as every node did before the shared build), compute2
// and compute3 with the shipped config (they copy the head node's build).
// Each time runs from the action's start to the script's exit 0 after
// enroot-agent verify passed (ENROOT_AGENT_POLL=1), and is split by the
// node's journal (cluster.Phases): install (script and .deb fetched,
// apt-get install, config written), converge (the agent's start to READY:
// Enroot's packages, Pyxis, slurmd restart, the token), ready (READY to the
// script's exit: its poll and verify). Each node's build record must say
// it built, built and published, or copied, or the run fails.
func BenchmarkClusterColdConverge(b *testing.B) {
	deb, err := cluster.BuildPackage(context.Background(), b.TempDir(), "", "")
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := cluster.Rootfs("", b.Logf); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		coldConvergeRun(b, deb.Path)
	}
}

func coldConvergeRun(b *testing.B, deb string) {
	ctx := context.Background()
	c, err := cluster.New(ctx, cluster.Options{Package: deb})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	own := c.Computes[0]
	pub, err := c.Publish(c.Package, func(n *cluster.Node) map[string]any {
		if n == own {
			return map[string]any{"pyxis": map[string]any{"shared_dir": ""}}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	want := map[string]string{c.Head.Name: "built here and published", own.Name: "built here"}
	var runs []cluster.Bootstrap
	for _, n := range c.Nodes() {
		r := c.Bootstrap(ctx, n, pub)
		if r.Err != nil {
			b.Fatalf("%v\n%s", r.Err, r.Output)
		}
		origin := buildOrigin(b, n)
		if w, ok := want[n.Name]; ok && !strings.HasPrefix(origin, w) || !ok && !strings.HasPrefix(origin, "copied from") {
			b.Fatalf("%s: Pyxis %q, want %q", n.Name, origin, want[n.Name])
		}
		runs = append(runs, r)
	}
	head, built, copies := runs[0], runs[1], runs[2:]
	var later []float64
	for _, r := range copies {
		later = append(later, seconds(r.Took))
	}
	slices.Sort(later)
	median := later[len(later)/2]
	b.ReportMetric(seconds(head.Took), "first_node_s")
	b.ReportMetric(median, "later_node_s")
	b.ReportMetric(median/seconds(head.Took), "later/first")
	b.ReportMetric(seconds(built.Took), "compute_own_build_s")
	b.ReportMetric(median/seconds(built.Took), "copy/own_build")
	for _, p := range []struct {
		name string
		n    *cluster.Node
		r    cluster.Bootstrap
	}{{"first", c.Head, head}, {"own_build", own, built}, {"later", c.Computes[1], copies[0]}} {
		ph, err := p.n.BootstrapPhases(ctx, p.r)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(seconds(ph.Install), p.name+"_install_s")
		b.ReportMetric(seconds(ph.Converge), p.name+"_converge_s")
		b.ReportMetric(seconds(ph.Ready), p.name+"_ready_s")
		b.ReportMetric(seconds(ph.Steps["enroot-packages"]), p.name+"_enroot_packages_s")
		b.ReportMetric(seconds(ph.Steps["pyxis-fetch"]+ph.Steps["pyxis-build"]), p.name+"_pyxis_s")
		b.ReportMetric(seconds(ph.Steps["slurmd-restart"]), p.name+"_slurmd_restart_s")
		b.Logf("%s (%s): %s: install %s, converge %s, ready %s; steps %v", p.name, p.n.Name, p.r.Took.Round(time.Millisecond),
			ph.Install.Round(time.Millisecond), ph.Converge.Round(time.Millisecond), ph.Ready.Round(time.Millisecond), ph.Steps)
	}
}

// buildOrigin is where the node's Pyxis came from, by its build record.
func buildOrigin(b *testing.B, n *cluster.Node) string {
	data, err := os.ReadFile(n.HostPath("/var/lib/enroot-agent/" + pyxis.StateFile))
	if err != nil {
		b.Fatal(err)
	}
	var rec pyxis.Record
	if err := json.Unmarshal(data, &rec); err != nil {
		b.Fatal(err)
	}
	return rec.Origin
}
