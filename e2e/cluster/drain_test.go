package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/cluster"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
)

// drainConfig is what an admin adds to the compute nodes' config to have
// the agent drain a node that cannot run containers: drain_on_failure, and
// the registry probe, so that a registry the node cannot pull from fails a
// check. verify.interval is short so that the scenarios do not wait a
// minute for each change. It stays rolled out for the
// later scenarios.
func drainConfig(n *cluster.Node) map[string]any {
	if !n.Compute {
		return nil
	}
	return map[string]any{"verify": map[string]any{
		"drain_on_failure": true, "interval": "10s",
		"probe_registries": true, "probe_images": []any{cluster.Image},
	}}
}

// adminReason is an admin's own drain, which the agent must never touch.
const adminReason = "admin: replacing a DIMM"

// testDrainOnRegistryOutage is scenario 6, with the cluster's real
// slurmctld: with verify.drain_on_failure, a registry outage drains every
// compute node with the root cause as the reason; recovery resumes them;
// a node an admin drained keeps the admin's reason through both.
func testDrainOnRegistryOutage(t *testing.T, c *bed) {
	c.rollOut(t, "drain", drainConfig)
	ctx := ctxFor(t, 10*time.Minute)
	if err := c.WaitIdle(ctx, c.Computes, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	admin := c.Computes[len(c.Computes)-1]
	others := c.Computes[:len(c.Computes)-1]
	if err := c.Scontrol(ctx, "update", "NodeName="+admin.Name, "State=DRAIN", "Reason="+adminReason); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Scontrol(ctxFor(t, time.Minute), "update", "NodeName="+admin.Name, "State=RESUME") })

	c.Services.StopRegistry()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = c.Services.StartRegistry()
		}
	})
	for _, n := range others {
		waitSlurm(t, c, n, 4*time.Minute, func(s slurm.Node) bool {
			return s.Drain && s.Reason == "enroot-agent: credentials-probe"
		}, "drained by the agent with the reason enroot-agent: credentials-probe")
	}
	// The admin's node failed the same check meanwhile: its agent saw it.
	waitVerify(t, admin, false, "credentials-probe")
	adminKept(t, c, admin)

	if err := c.Services.StartRegistry(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	for _, n := range others {
		waitSlurm(t, c, n, 4*time.Minute, func(s slurm.Node) bool { return !s.Drain && !s.Down },
			"resumed by the agent once the registry is back")
	}
	waitVerify(t, admin, true, "")
	adminKept(t, c, admin)
	if got, err := srunContainer(t, c, len(others)); err != nil || len(got) != len(others) {
		t.Fatalf("a container job on the resumed nodes: %v %q", err, got)
	}
}

func adminKept(t *testing.T, c *bed, n *cluster.Node) {
	t.Helper()
	s, err := c.SlurmNode(ctxFor(t, time.Minute), n.Name)
	if err != nil || !s.Drain || s.Reason != adminReason {
		t.Fatalf("%s: the agent touched an admin's drain: %+v, %v (want reason %q)", n.Name, s, err, adminReason)
	}
}

// waitSlurm polls slurmctld until n's state satisfies ok.
func waitSlurm(t *testing.T, c *bed, n *cluster.Node, timeout time.Duration, ok func(slurm.Node) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last slurm.Node
	var err error
	for time.Now().Before(deadline) {
		if last, err = c.SlurmNode(ctxFor(t, time.Minute), n.Name); err == nil && ok(last) {
			return
		}
		time.Sleep(time.Second)
	}
	journal := n.Journal(ctxFor(t, time.Minute), "enroot-agent.service")
	if len(journal) > 6000 {
		journal = journal[len(journal)-6000:]
	}
	t.Fatalf("%s: not %s within %s: state %q reason %q (%v)\n%s", n.Name, what, timeout, last.State, last.Reason, err,
		c.Services.Redact(strings.TrimSpace(journal)))
}
