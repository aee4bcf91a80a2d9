package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/cluster"
)

// clusterDemo is the demo's end: the agent on a cluster, installed as
// ParallelCluster installs it. A head node and three compute nodes boot a
// real systemd (systemd-nspawn) with the Slurm ParallelCluster ships in a
// shared /opt/slurm; OnNodeConfigured's script installs the agent's .deb on
// each, head node first; then an admin's `systemctl status` on a compute
// node, and a non-root user's srun --container-image on all three.
func clusterDemo() (err error) {
	title("a cluster on this machine: head node + 3 compute nodes booting systemd, Slurm "+cluster.DefaultSlurm+
		" in a shared /opt/slurm, the agent's .deb installed by on-node-configured.sh as ParallelCluster runs it", "")
	ctx := context.Background()
	logf := func(format string, args ...any) { fmt.Printf("  %s\n", fmt.Sprintf(format, args...)) }
	c, err := cluster.New(ctx, cluster.Options{Log: logf})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := c.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	pub, err := c.Publish(c.Package, nil)
	if err != nil {
		return err
	}
	fmt.Printf("  package %s, configs from packaging/parallelcluster/{head,compute}-node.yaml, served at %s\n",
		c.Package.Full(), c.Services.MirrorURL)
	results, err := c.BootstrapCluster(ctx, pub)
	for _, b := range results {
		fmt.Printf("  on-node-configured.sh on %-8s exit 0 once enroot-agent verify passed: %s\n", b.Node, b.Took.Round(100*time.Millisecond))
	}
	if err != nil {
		return err
	}
	node := c.Computes[0]
	title("what an admin sees on "+node.Name, "systemctl status enroot-agent")
	status, err := node.Output(ctx, "systemctl", "status", "--no-pager", "--lines=5", "enroot-agent")
	fmt.Print(c.Services.Redact(status))
	if err != nil {
		return fmt.Errorf("systemctl status on %s: %w", node.Name, err)
	}
	args := cluster.SrunArgs(len(c.Computes))
	title("user "+cluster.User+" on the head node (no setup of their own) runs a container job on every compute node",
		strings.Join(args[:3], " ")+" sh -c '"+args[len(args)-1]+"'")
	out, err := c.Head.UserOutput(ctx, cluster.User, args...)
	fmt.Print(out)
	if err != nil {
		return fmt.Errorf("srun as %s: %s", cluster.User, c.Services.Redact(err.Error()))
	}
	return nil
}
