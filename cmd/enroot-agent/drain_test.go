package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
	fakeslurm "github.com/enroot-agent/enroot-agent/internal/fake/slurm"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
)

// runWith runs the real binary with extra environment.
func runWith(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t), args...)
	cmd.Env = append(append([]string{}, awsFor(t).env...), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), 0
}

// slurmRoot makes the test cluster's slurm.conf visible inside root too:
// the agent re-roots SLURM_CONF like every host path.
func slurmRoot(t *testing.T, s *fakeslurm.Slurm, root string) {
	t.Helper()
	data, err := os.ReadFile(s.Conf)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, s.Conf)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, append(data, "PropagateResourceLimitsExcept=MEMLOCK\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
}

func nodeState(t *testing.T, s *fakeslurm.Slurm) slurm.Node {
	t.Helper()
	out, err := s.Scontrol("show", "node", s.Node)
	if err != nil {
		t.Fatal(err)
	}
	n, err := slurm.ParseNode(out)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// `verify --drain` against a real slurmctld and slurmd: a failing check
// drains the node with our reason, recovery resumes it, and an admin's
// drain is never touched.
func TestVerifyDrainsAndResumes(t *testing.T) {
	cluster := testenv.StartSlurm(t)
	root, _, bus := healthyNode(t, "  node_name: "+cluster.Node+"\n")
	slurmRoot(t, cluster, root)
	env := append([]string{bus}, cluster.Env...)
	if out, code := runWith(t, env, "--root", root, "apply"); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	verifyDrain := func(want int) string {
		t.Helper()
		out, code := runWith(t, env, "--root", root, "verify", "--local", "--drain")
		if code != want {
			t.Fatalf("verify --drain: exit %d, want %d\n%s", code, want, out)
		}
		return out
	}
	verifyDrain(0)
	if n := nodeState(t, cluster); n.Drain {
		t.Fatalf("a healthy node was drained: %+v", n)
	}

	creds := filepath.Join(root, "run/enroot-agent/enroot-config/.credentials")
	os.Remove(creds)
	verifyDrain(1)
	n := nodeState(t, cluster)
	if !n.Drain || !strings.HasPrefix(n.Reason, "enroot-agent: credentials") {
		t.Fatalf("failing check: node %+v, want drained with our reason", n)
	}
	t.Logf("drained: %s (%s)", n.Reason, n.State)

	if out, code := runWith(t, env, "--root", root, "refresh"); code != 0 {
		t.Fatalf("refresh: exit %d\n%s", code, out)
	}
	verifyDrain(0)
	if n := nodeState(t, cluster); n.Drain {
		t.Fatalf("recovered node still drained: %+v", n)
	}

	// An admin's drain: neither resumed when healthy nor re-reasoned when failing.
	if _, err := cluster.Scontrol("update", "NodeName="+cluster.Node, "State=DRAIN", "Reason=GPU XID 79"); err != nil {
		t.Fatal(err)
	}
	verifyDrain(0)
	os.Remove(creds)
	verifyDrain(1)
	if n := nodeState(t, cluster); !n.Drain || n.Reason != "GPU XID 79" {
		t.Fatalf("admin's drain touched: %+v", n)
	}
}

// The daemon with verify.drain_on_failure does the same on its own.
func TestDaemonDrainsOnFailure(t *testing.T) {
	cluster := testenv.StartSlurm(t)
	root, listen, bus := healthyNode(t, "  node_name: "+cluster.Node+"\n  drain_on_failure: true\n  interval: 10s\n  cache_ttl: 1s\n")
	slurmRoot(t, cluster, root)
	a := startAgent(t, root, listen, 0, append([]string{bus}, cluster.Env...)...)
	a.waitNotify(0, "READY=1", 90*time.Second)
	a.waitLog(`"msg":"status","status":"ready: `, 10*time.Second)
	if n := nodeState(t, cluster); n.Drain {
		t.Fatalf("healthy node drained by the daemon: %+v", n)
	}
	// Damage the daemon cannot repair (it repairs a deleted file at once):
	// a directory where the credentials file belongs.
	creds := filepath.Join(root, "run/enroot-agent/enroot-config/.credentials")
	if err := os.Remove(creds); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(creds, 0o755); err != nil {
		t.Fatal(err)
	}
	waitNode(t, cluster, 25*time.Second, func(n slurm.Node) bool {
		return n.Drain && strings.HasPrefix(n.Reason, "enroot-agent: credentials")
	})
	waitMetric(t, "http://"+listen, "enroot_agent_node_drained 1", 25*time.Second)
	// Once the directory is gone the daemon writes the file back from the
	// tokens it holds, and resumes its own drain: nobody runs refresh.
	if err := os.Remove(creds); err != nil {
		t.Fatal(err)
	}
	waitNode(t, cluster, 25*time.Second, func(n slurm.Node) bool { return !n.Drain })
	waitMetric(t, "http://"+listen, "enroot_agent_node_drained 0", 25*time.Second)
	a.waitLog(`"msg":"restored the credentials files from the tokens held (no ECR call)"`, 5*time.Second)
}

// waitMetric polls /metrics until a line equals line.
func waitMetric(t *testing.T, url, line string, within time.Duration) {
	t.Helper()
	if !fake.Eventually(within, func() bool {
		_, body := get(t, url+"/metrics")
		return slices.Contains(strings.Split(body, "\n"), line)
	}) {
		t.Fatalf("no %q in /metrics within %s", line, within)
	}
}

func waitNode(t *testing.T, s *fakeslurm.Slurm, timeout time.Duration, ok func(slurm.Node) bool) {
	t.Helper()
	var n slurm.Node
	if !fake.Eventually(timeout, func() bool { n = nodeState(t, s); return ok(n) }) {
		t.Fatalf("node state %+v did not change as expected within %s", n, timeout)
	}
}
