package cluster

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/cluster"
)

// testBootstrap is scenario 1: on every node, ParallelCluster's
// OnNodeConfigured action (packaging/parallelcluster/on-node-configured.sh,
// fetched and run as root in a service of the node's systemd) installs the
// package make deb built, writes the node's config and exits 0 only once
// enroot-agent verify passes; the time from its start to then is reported.
func testBootstrap(t *testing.T, c *bed) {
	for _, b := range c.bootstraps {
		t.Logf("%s: bootstrap to verified in %s", b.Node, b.Took.Round(time.Millisecond))
		if !strings.Contains(b.Output, "enroot-agent reports the node ready") {
			t.Errorf("%s: the script exited 0 without saying the node is ready:\n%s", b.Node, b.Output)
		}
	}
	for _, n := range c.Nodes() {
		out, err := n.Output(ctxFor(t, time.Minute), "enroot-agent", "verify")
		if err != nil {
			t.Errorf("%s: enroot-agent verify after the bootstrap: %v\n%s", n.Name, err, out)
		}
		// Ready, and without a detour: no step failed on the way (a slurmd
		// restart that waited on the agent's own start did, for 2 minutes).
		if log := n.Journal(ctxFor(t, time.Minute), "enroot-agent.service"); strings.Contains(log, "step failed") {
			t.Errorf("%s: a step failed during the bootstrap:\n%s", n.Name, c.Services.Redact(log))
		}
	}
}

// testBootstrapWaitsForVerify: the script's exit 0 means verify passed. On
// a node where a check fails that the agent cannot repair (another user
// owns the job user's enroot runtime directory), the script gives up after
// its timeout with exit 1 and verify's output; once the node is repaired
// the same action exits 0, without restarting the agent (nothing changed).
func testBootstrapWaitsForVerify(t *testing.T, c *bed) {
	n := c.Computes[0]
	dir := fmt.Sprintf("/run/enroot/user-%d", cluster.UserUID)
	if out, err := n.Output(ctxFor(t, time.Minute), "install", "-d", "-o", "nobody", "-m", "0700", dir); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = n.Output(ctxFor(t, time.Minute), "rm", "-rf", dir) })
	waitVerify(t, n, false, "enroot-user-dirs")
	before := unitProps(t, n, "enroot-agent.service", "InvocationID")

	b := c.Bootstrap(ctxFor(t, 2*time.Minute), n, c.pub, "--timeout", "3")
	if b.Err == nil || !strings.Contains(b.Output, "did not report ready within 3s") ||
		!strings.Contains(b.Output, "enroot-user-dirs") || !strings.Contains(b.Output, dir) {
		t.Fatalf("on-node-configured.sh on a node that fails verify: %v, want exit 1 with verify's output naming %s:\n%s",
			b.Err, dir, b.Output)
	}

	if out, err := n.Output(ctxFor(t, time.Minute), "rm", "-rf", dir); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	b = c.Bootstrap(ctxFor(t, 5*time.Minute), n, c.pub, "--timeout", "300")
	if b.Err != nil || !strings.Contains(b.Output, "enroot-agent reports the node ready") {
		t.Fatalf("on-node-configured.sh once repaired: %v\n%s", b.Err, b.Output)
	}
	if after := unitProps(t, n, "enroot-agent.service", "InvocationID"); after["InvocationID"] != before["InvocationID"] {
		t.Errorf("running the action again on a configured node restarted the agent (invocation %s -> %s)",
			before["InvocationID"], after["InvocationID"])
	}
}

// waitVerify polls the agent's /verify on n until it answers ok (want) or
// fails naming check.
func waitVerify(t *testing.T, n *cluster.Node, ok bool, check string) string {
	t.Helper()
	var body string
	var code int
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		code, body = get(n.AgentURL() + "/verify")
		if ok && code == 200 || !ok && code == 503 && strings.Contains(body, check) {
			return body
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("%s: /verify never answered ok=%v naming %q; last: HTTP %d\n%s", n.Name, ok, check, code, body)
	return ""
}

func get(url string) (int, string) {
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func unitProps(t *testing.T, n *cluster.Node, unit string, props ...string) map[string]string {
	t.Helper()
	m, err := n.Unit(ctxFor(t, time.Minute), unit, props...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
