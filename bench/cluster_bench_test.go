package bench

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/cluster"
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
