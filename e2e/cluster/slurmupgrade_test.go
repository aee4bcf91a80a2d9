package cluster

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/cluster"
)

// testSlurmUpgrade is scenario 5: the shared /opt/slurm goes from Slurm
// 24.11.7 to 25.11.7 and the daemons are restarted as an admin does it
// (cluster.UpgradeSlurm). A Pyxis built for 24.11 is refused by 25.11, so
// every node cannot run containers until it has a new one: every agent
// rebuilds Pyxis for 25.11 on its own (no agent is restarted or told), the
// compute nodes' agents drain their node meanwhile with the root cause and
// resume it after, and the container job runs again on every node.
func testSlurmUpgrade(t *testing.T, c *bed) {
	c.rollOut(t, "drain", drainConfig)
	ctx := ctxFor(t, 15*time.Minute)
	if c.Slurm != cluster.DefaultSlurm {
		t.Fatalf("the cluster runs Slurm %s, not %s: the upgrade scenario must run on the cluster as brought up", c.Slurm, cluster.DefaultSlurm)
	}
	if got, err := srunContainer(t, c, len(c.Computes)); err != nil || len(got) != len(c.Computes) {
		t.Fatalf("before the upgrade: %v %q", err, got)
	}
	// Every node rebuilds its node-local plugin; the shared plugstack names
	// its path, which does not change, so no node rewrites it.
	plugstack := func() map[string]string {
		m := map[string]string{}
		for _, f := range []string{"plugstack.conf", "plugstack.conf.d/pyxis.conf"} {
			p := filepath.Join(c.SlurmDir, "etc", f)
			data, err := os.ReadFile(p)
			st, serr := os.Stat(p)
			if err != nil || serr != nil {
				t.Fatalf("the shared plugstack: %v %v", err, serr)
			}
			m[f] = fmt.Sprintf("%s@%s", data, st.ModTime())
		}
		return m
	}
	stackBefore := plugstack()
	runs := map[string]string{}
	for _, n := range c.Nodes() {
		runs[n.Name] = unitProps(t, n, "enroot-agent.service", "InvocationID")["InvocationID"]
	}
	notStarted, err := c.UpgradeSlurm(ctx, cluster.UpgradeSlurm)
	if err != nil {
		t.Fatalf("upgrade Slurm to %s: %v", cluster.UpgradeSlurm, err)
	}
	t.Logf("after the admin's upgrade, slurmd did not start on %v (Slurm %s refuses the Pyxis built for %s)",
		notStarted, cluster.UpgradeSlurm, cluster.DefaultSlurm)
	// sinfo, not srun: srun loads the plugstack even for --version, and
	// refuses the old Pyxis until the head node's agent rebuilt it.
	if v, err := c.Head.Output(ctx, "sinfo", "--version"); err != nil || strings.TrimSpace(v) != "slurm "+cluster.UpgradeSlurm {
		t.Fatalf("sinfo --version after the upgrade: %q, %v", v, err)
	}

	// Every agent notices on its own (its periodic checks), rebuilds, and
	// passes verify again.
	rebuilt := `"slurm": "` + cluster.UpgradeSlurm + `"`
	var wg sync.WaitGroup
	for _, n := range c.Nodes() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			waitJournal(t, c, n, "enroot-agent.service", rebuilt, 5*time.Minute)
			waitVerify(t, n, true, "")
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, n := range c.Nodes() {
		if now := unitProps(t, n, "enroot-agent.service", "InvocationID")["InvocationID"]; now != runs[n.Name] {
			t.Errorf("%s: the agent was restarted during the Slurm upgrade; it should have adapted while running", n.Name)
		}
	}
	// slurmctld's own log is the record of what the agents did to the nodes.
	ctld := c.Head.Journal(ctx, "slurmctld.service")
	for _, n := range c.Computes {
		drained := "update_node: node " + n.Name + " reason set to: enroot-agent: pyxis-plugin"
		i := strings.Index(ctld, drained)
		if i < 0 || !strings.Contains(ctld[i:], "update_node: node "+n.Name+" state set to IDLE") {
			t.Errorf("%s: slurmctld's log does not show the agent draining it (%q) and resuming it after:\n%s",
				n.Name, drained, tail(ctld, 4000))
		}
	}
	if now := plugstack(); !maps.Equal(now, stackBefore) {
		t.Errorf("the upgrade rewrote the shared plugstack:\nbefore %q\nafter  %q", stackBefore, now)
	}
	if err := c.WaitIdle(ctx, c.Computes, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := srunContainer(t, c, len(c.Computes))
	if err != nil || len(got) != len(c.Computes) {
		t.Fatalf("the container job after the upgrade: %v %q", err, got)
	}
}

// waitJournal waits until unit's journal on n has want.
func waitJournal(t *testing.T, c *bed, n *cluster.Node, unit, want string, timeout time.Duration) {
	t.Helper()
	var journal string
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if journal = n.Journal(ctxFor(t, time.Minute), unit); strings.Contains(journal, want) {
			return
		}
		time.Sleep(2 * time.Second)
	}
	t.Errorf("%s: %s's journal has no %q after %s:\n%s", n.Name, unit, want, timeout, tail(c.Services.Redact(journal), 4000))
}
