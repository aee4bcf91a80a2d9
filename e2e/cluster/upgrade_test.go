package cluster

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/cluster"
)

// testPackageUpgrade is scenario 9: the agent's own package goes from
// version N to N+1 on a running node, as an admin rolls it out (the new
// .deb on the bucket, the OnNodeUpdated action run again). The service
// restarts exactly once (the package's postinst), the credentials file
// every job reads never disappears, the node never leaves service in
// Slurm, and it ends verified, running N+1.
func testPackageUpgrade(t *testing.T, c *bed) {
	n := c.Computes[0]
	ctx := ctxFor(t, 10*time.Minute)
	next, err := cluster.BuildPackage(ctx, filepath.Join(c.Dir, "dist-next"), c.Package.Version, c.Package.Release+".1")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := c.PublishPackage(c.pub, next)
	if err != nil {
		t.Fatal(err)
	}
	waitVerify(t, n, true, "")
	before := unitProps(t, n, "enroot-agent.service", "InvocationID", "NRestarts")
	starts := strings.Count(n.Journal(ctx, "enroot-agent.service"), "Started enroot-agent.service")
	gone := watchFile(t, n, credentialsFile)
	left := watchSlurm(t, c, n)

	b := c.Bootstrap(ctx, n, pub, "--timeout", "300")
	if b.Err != nil {
		t.Fatalf("the OnNodeUpdated action with %s: %v\n%s", filepath.Base(next.Path), b.Err, b.Output)
	}
	c.pub = pub // the bucket now serves N+1: the next roll-out upgrades the other nodes
	if v, err := n.Output(ctx, "dpkg-query", "-W", "-f=${Version}", "enroot-agent"); err != nil || v != next.Full() {
		t.Fatalf("dpkg says enroot-agent %q (%v), want %s", v, err, next.Full())
	}
	if v, err := n.Output(ctx, "enroot-agent", "version"); err != nil || !strings.Contains(v, next.Full()) {
		t.Fatalf("enroot-agent version: %q (%v), want %s", v, err, next.Full())
	}
	after := unitProps(t, n, "enroot-agent.service", "InvocationID", "NRestarts", "ActiveState", "StatusText")
	journal := c.Services.Redact(n.Journal(ctx, "enroot-agent.service"))
	if got := strings.Count(journal, "Started enroot-agent.service") - starts; got != 1 ||
		after["InvocationID"] == before["InvocationID"] || after["NRestarts"] != before["NRestarts"] {
		t.Errorf("the upgrade started the agent %d times (want 1; invocation %s -> %s, automatic restarts %s -> %s)\n%s",
			got, before["InvocationID"], after["InvocationID"], before["NRestarts"], after["NRestarts"], tail(journal, 4000))
	}
	if after["ActiveState"] != "active" || !strings.HasPrefix(after["StatusText"], "ready: ") {
		t.Errorf("after the upgrade: %v", after)
	}
	waitVerify(t, n, true, "")
	if g := gone.Load(); g > 0 {
		t.Errorf("%s was missing %d times during the upgrade", credentialsFile, g)
	}
	if l := left.Load(); l != nil {
		t.Errorf("%s left service during the upgrade: %v", n.Name, *l)
	}
	out, err := c.Head.UserOutput(ctx, cluster.User, append([]string{"srun", "-w", n.Name}, cluster.SrunArgs(1)[1:]...)...)
	if err != nil || strings.TrimSpace(out) != c.Services.Greeting+" on "+n.Name {
		t.Errorf("a container job on the upgraded %s: %v\n%s", n.Name, err, out)
	}
}

// watchSlurm polls slurmctld's view of n until the test ends and keeps the
// first state that is not in service (drained, down, not responding).
func watchSlurm(t *testing.T, c *bed, n *cluster.Node) *atomic.Pointer[string] {
	var left atomic.Pointer[string]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if s, err := c.SlurmNode(ctx, n.Name); err == nil && (s.Drain || s.Down || strings.Contains(s.State, "NOT_RESPONDING")) {
				state := s.State + " " + s.Reason
				left.CompareAndSwap(nil, &state)
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return &left
}
