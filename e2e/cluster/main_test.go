// Package cluster holds the scenarios that need a cluster: enroot-agent on
// a head node and compute nodes that boot a real systemd, with the Slurm
// ParallelCluster ships built into a shared /opt/slurm, installed from its
// own package by ParallelCluster's OnNodeConfigured action
// (internal/cluster).
package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/cluster"
)

// TestCluster brings one cluster up, bootstraps the agent on every node as
// ParallelCluster does (head node first, then the compute nodes at once,
// from the package make deb built and the head-node layout's configs), runs
// every scenario on it as a subtest, in this order, and tears it down. The
// order is part of the design: a scenario may leave the cluster changed
// (drain_on_failure rolled out, a newer agent package, the shared image
// cache, Slurm 25.11) and every later one runs on that, as a real cluster
// lives on; the Slurm upgrade comes last.
func TestCluster(t *testing.T) {
	b := bringUp(t)
	for _, s := range []struct {
		name string
		run  func(*testing.T, *bed)
	}{
		{"slurm", testSlurm},
		{"1-bootstrap", testBootstrap},
		{"1-bootstrap-waits-for-verify", testBootstrapWaitsForVerify},
		{"2-systemctl-status", testSystemdStatus},
		{"3-container-job", testContainerJob},
		{"10-two-node-rendezvous", testRendezvous},
		{"6-drain-on-registry-outage", testDrainOnRegistryOutage},
		{"4-watchdog", testWatchdog},
		{"9-package-upgrade", testPackageUpgrade},
		{"8-prometheus-alerts", testPrometheus},
		{"7-shared-image-cache", testImageCache},
		{"5-slurm-upgrade", testSlurmUpgrade},
	} {
		t.Run(s.name, func(t *testing.T) { s.run(t, b) })
	}
}

// bed is the cluster the scenarios share, and what they changed on it.
type bed struct {
	*cluster.Cluster
	pub        cluster.Published   // what the bucket serves now
	bootstraps []cluster.Bootstrap // every node's first bootstrap
	// extra is what the configs now have beyond the shipped ones, by name.
	extra map[string]func(*cluster.Node) map[string]any
}

// bringUp starts the cluster and bootstraps the agent; the test's cleanup
// stops it and checks the host is as it was.
func bringUp(t *testing.T) *bed {
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s cluster: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	c, err := cluster.New(context.Background(), cluster.Options{Log: logf})
	if err != nil {
		t.Fatalf("bring the cluster up: %v", err)
	}
	t.Cleanup(func() { closeAndCheckHost(t, c) })
	b := &bed{Cluster: c, extra: map[string]func(*cluster.Node) map[string]any{}}
	if b.pub, err = c.Publish(c.Package, nil); err != nil {
		t.Fatal(err)
	}
	b.bootstraps, err = c.BootstrapCluster(ctxFor(t, 20*time.Minute), b.pub, "--timeout", "600")
	for _, r := range b.bootstraps {
		logf("on-node-configured.sh on %s: %s (exit: %v)", r.Node, r.Took.Round(time.Millisecond), r.Err)
	}
	if err != nil {
		t.Fatalf("bootstrap the agent on the cluster: %v", err)
	}
	return b
}

// closeAndCheckHost stops the cluster and checks that nothing of it is
// left on the host: its work dir, its record, its cgroups and mounts.
func closeAndCheckHost(t *testing.T, c *cluster.Cluster) {
	if err := c.Close(); err != nil {
		t.Errorf("the cluster did not go cleanly: %v", err)
	}
	if left := c.Leftovers(); len(left) > 0 {
		t.Errorf("the cluster left on the host: %v", left)
	}
}

// rollOut adds config (named name) to what the nodes' configs have, unless
// they have it already, and rolls it out as
// an admin does with pcluster update-cluster: the new configs on the
// bucket, then the OnNodeUpdated action (the same script) on the head node,
// which owns the shared plugstack, and then on every compute node at once.
// The config changed, so each agent restarts and the script waits until
// verify passes.
func (b *bed) rollOut(t *testing.T, name string, config func(*cluster.Node) map[string]any) {
	t.Helper()
	if b.extra[name] != nil {
		return
	}
	b.extra[name] = config
	b.rollOutExtra(t)
}

// rollBack takes the config named name out of the nodes' configs again,
// rolled out the same way.
func (b *bed) rollBack(t *testing.T, name string) {
	t.Helper()
	if b.extra[name] == nil {
		return
	}
	delete(b.extra, name)
	b.rollOutExtra(t)
}

// rollOutExtra publishes the shipped configs with every extra and runs the
// update on the head node, then on every compute node at once.
func (b *bed) rollOutExtra(t *testing.T) {
	t.Helper()
	pub, err := b.Publish(b.Package, func(n *cluster.Node) map[string]any {
		all := map[string]any{}
		for _, f := range b.extra {
			cluster.Merge(all, f(n))
		}
		return all
	})
	if err != nil {
		t.Fatal(err)
	}
	pub.Package = b.pub.Package // whichever version the nodes run now
	b.pub = pub
	run := func(n *cluster.Node) error {
		r := b.Bootstrap(ctxFor(t, 10*time.Minute), n, pub, "--timeout", "300")
		if r.Err != nil {
			return fmt.Errorf("%w\n%s", r.Err, r.Output)
		}
		return nil
	}
	if err := run(b.Head); err != nil {
		t.Fatalf("roll the config out to the head node: %v", err)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(b.Computes))
	for i, n := range b.Computes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = run(n) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("roll the config out to the compute nodes: %v", err)
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
