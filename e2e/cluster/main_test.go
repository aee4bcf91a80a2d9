// Package cluster holds the scenarios that need a cluster: enroot-agent on
// a head node and compute nodes that boot a real systemd, with the Slurm
// ParallelCluster ships built into a shared /opt/slurm (internal/cluster).
// One cluster serves every test of the package; it is brought up by the
// first test that needs it and torn down when the tests end.
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

var (
	upOnce sync.Once
	shared *cluster.Cluster
	upErr  error

	agentOnce  sync.Once
	published  cluster.Published
	bootstraps []cluster.Bootstrap
	agentErr   error

	drainOnce sync.Once
	drainErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := shared.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "the test cluster did not go cleanly: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// up brings the shared cluster up once; every later caller gets it (or the
// error it failed with).
func up(t *testing.T) *cluster.Cluster {
	t.Helper()
	upOnce.Do(func() {
		logf := func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "%s cluster: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
		}
		shared, upErr = cluster.New(context.Background(), cluster.Options{Log: logf})
	})
	if upErr != nil {
		t.Fatalf("bring the cluster up: %v", upErr)
	}
	return shared
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// withAgent is up, with the agent bootstrapped on every node as
// ParallelCluster does it (head node first, then the compute nodes at once)
// from the package make deb built and the head-node layout's configs.
func withAgent(t *testing.T) *cluster.Cluster {
	t.Helper()
	c := up(t)
	agentOnce.Do(func() {
		published, agentErr = c.Publish(c.Package, nil)
		if agentErr == nil {
			bootstraps, agentErr = c.BootstrapCluster(context.Background(), published, "--timeout", "600")
		}
		for _, b := range bootstraps {
			fmt.Fprintf(os.Stderr, "%s cluster: on-node-configured.sh on %s: %s (exit: %v)\n",
				time.Now().Format("15:04:05"), b.Node, b.Took.Round(time.Millisecond), b.Err)
		}
	})
	if agentErr != nil {
		t.Fatalf("bootstrap the agent on the cluster: %v", agentErr)
	}
	return c
}

// drainConfig is what an admin adds to the compute nodes' config to have
// the agent drain a node that cannot run containers: drain_on_failure, and
// the registry probe, so that a registry the node cannot pull from fails a
// check. verify.interval is short so that the tests do not wait a minute
// for each change.
func drainConfig(n *cluster.Node) map[string]any {
	if !n.Compute {
		return nil
	}
	return map[string]any{"verify": map[string]any{
		"drain_on_failure": true, "interval": "10s",
		"probe_registries": true, "probe_images": []any{cluster.Image},
	}}
}

// withDrain is withAgent, with drainConfig rolled out to the compute nodes
// as an admin does with pcluster update-cluster: the new config on the
// bucket, OnNodeUpdated running the same action again on each node (the
// config changed, so the agent restarts and the script waits for verify).
func withDrain(t *testing.T) *cluster.Cluster {
	t.Helper()
	c := withAgent(t)
	drainOnce.Do(func() {
		pub, err := c.Publish(c.Package, drainConfig)
		if err != nil {
			drainErr = err
			return
		}
		published = pub
		var wg sync.WaitGroup
		errs := make([]error, len(c.Computes))
		for i, n := range c.Computes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if b := c.Bootstrap(context.Background(), n, pub, "--timeout", "300"); b.Err != nil {
					errs[i] = fmt.Errorf("%w\n%s", b.Err, b.Output)
				}
			}()
		}
		wg.Wait()
		drainErr = errors.Join(errs...)
	})
	if drainErr != nil {
		t.Fatalf("roll out drain_on_failure: %v", drainErr)
	}
	return c
}
