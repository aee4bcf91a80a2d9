package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
	fakeslurm "github.com/enroot-agent/enroot-agent/internal/fake/slurm"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/agent"
	"github.com/enroot-agent/enroot-agent/pkg/node"
	"github.com/enroot-agent/enroot-agent/pkg/pyxis"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
)

// slurmdStarted puts a running slurmd into root's /proc, as pkg/slurm reads
// it on a node without systemd: btime a day ago, the start in clock ticks,
// and an environment with Slurm's bin (the node's slurm_prefix is /usr)
// on its PATH, which the slurmd-path check reads.
func slurmdStarted(t *testing.T, root string, at time.Time) {
	t.Helper()
	boot := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	testenv.MkdirAll(t, filepath.Join(root, "proc/4242"), 0o755)
	testenv.WriteFile(t, filepath.Join(root, "proc/stat"), []byte(fmt.Sprintf("cpu 0 0 0 0\nbtime %d\n", boot.Unix())), 0o644)
	ticks := at.Sub(boot) * 100 / time.Second
	testenv.WriteFile(t, filepath.Join(root, "proc/4242/stat"),
		[]byte(fmt.Sprintf("4242 (slurmd) S 1 4242 4242 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n", ticks)), 0o644)
	testenv.WriteFile(t, filepath.Join(root, "proc/4242/environ"), []byte("PATH=/opt/slurm/bin:/usr/sbin:/usr/bin:/sbin:/bin\x00"), 0o400)
}

// restartedByHand is `systemctl restart slurmd` on a node the agent cannot
// restart it on: slurmd's start time now follows the plugin's.
func restartedByHand(t *testing.T, root string) {
	t.Helper()
	st, err := os.Stat(filepath.Join(root, "usr/local/lib/slurm", pyxis.PluginName))
	if err != nil {
		t.Fatal(err)
	}
	slurmdStarted(t, root, st.ModTime().Add(2*time.Second))
}

// apply cannot restart slurmd (no systemd bus), so verify fails until an
// admin restarts it by hand; right after that, with no second apply,
// verify passes: the step's only condition holds, and writing the record
// is left to the next converge.
func TestVerifyPassesAfterManualRestart(t *testing.T) {
	root, _, _ := healthyNodeStub(t, "") // its systemd stand-in is not used: the bus stays unreachable
	slurmdStarted(t, root, time.Now().Add(-time.Hour))
	out, errOut, code := runAgent(t, "--root", root, "apply")
	if code != 0 || !strings.Contains(out, "slurmd-restart   pending") {
		t.Fatalf("apply: exit %d, want the restart pending\n%s%s", code, out, errOut)
	}
	if out, _, code := runAgent(t, "--root", root, "verify", "--local"); code != 1 || !strings.Contains(out, "slurmd-restart") {
		t.Fatalf("verify with the restart pending: exit %d\n%s", code, out)
	}
	restartedByHand(t, root)
	if out, errOut, code := runAgent(t, "--root", root, "verify", "--local"); code != 0 {
		t.Fatalf("verify after the manual restart: exit %d, want 0\n%s%s", code, out, errOut)
	}
	out, _, code = runAgent(t, "--root", root, "apply")
	if code != 0 || !strings.Contains(out, "~ slurmd-restart   changed: slurmd already runs the current Pyxis") {
		t.Fatalf("the next apply records the restart: exit %d\n%s", code, out)
	}
}

// A Slurm upgrade under the running daemon on a node with no systemd bus:
// the agent drains the node, rebuilds Pyxis and asks for a slurmd restart.
// Once an admin restarts slurmd, the node is resumed at the next look at
// the checks: before any converge runs again, so never after a backed-off
// retry. The drain reason, /verify and STATUS= name the same root cause.
func TestDaemonResumesAfterManualRestart(t *testing.T) {
	cluster := testenv.StartSlurm(t)
	root, listen, _ := healthyNodeStub(t, "  node_name: "+cluster.Node+"\n  drain_on_failure: true\n  interval: 10s\n  cache_ttl: 1s\n")
	slurmRoot(t, cluster, root)
	slurmAt(t, root, slurmA)
	slurmdStarted(t, root, time.Now().Add(-time.Hour))
	url := "http://" + listen
	a := startAgent(t, root, listen, 0, append([]string{"DBUS_SYSTEM_BUS_ADDRESS=unix:path=" + filepath.Join(root, "no-bus")}, cluster.Env...)...)
	a.waitNotify(0, "READY=1", 90*time.Second)

	// resumes restarts slurmd by hand and checks the node is resumed before
	// the restart step runs again.
	resumes := func(when string) {
		t.Helper()
		drainedBy(t, cluster, url, a)
		before := len(a.log.String())
		restartedByHand(t, root)
		waitNodeDriven(t, cluster, url, func(n slurm.Node) bool { return !n.Drain })
		since := a.log.String()[before:]
		resumed := strings.Index(since, `"msg":"node resumed: every check passes again"`)
		rerun := strings.Index(since, `"msg":"step starting","step":"slurmd-restart"`)
		if resumed < 0 || rerun >= 0 && rerun < resumed {
			t.Fatalf("%s: the node was resumed only after a converge ran again (resumed at %d, restart step at %d)", when, resumed, rerun)
		}
		waitVerify(t, url, 200, 15*time.Second)
	}
	resumes("first install")

	slurmAt(t, root, slurmB)
	a.waitLog(fmt.Sprintf("was built for Slurm %s but Slurm %s runs here", slurmA, slurmB), 30*time.Second)
	a.waitLog(`"msg":"repaired drift","step":"pyxis-build"`, 60*time.Second)
	resumes("after the upgrade")
}

// drainedBy waits for the node to be drained by the agent with the root
// cause /verify names, and for STATUS= to name it too. Each poll evaluates
// anew, so the reason may trail one poll behind (the rebuild just landed).
func drainedBy(t *testing.T, s *fakeslurm.Slurm, url string, a *agentProc) {
	t.Helper()
	var cause string
	waitNodeDriven(t, s, url, func(n slurm.Node) bool {
		_, rep, _ := getReport(t, url+"/verify")
		cause = node.RootCause(rep.Results)
		return n.Drain && cause != "" && n.Reason == agent.ReasonPrefix+cause
	})
	a.waitLog(`"msg":"status","status":"degraded: check `+cause+` failing since `, 10*time.Second)
	t.Logf("drained: %s%s", agent.ReasonPrefix, cause)
}

// waitNodeDriven is waitNode that also asks /verify on each poll: every
// evaluation reaches the daemon, so it drains and resumes without waiting
// for its own verify.interval.
func waitNodeDriven(t *testing.T, s *fakeslurm.Slurm, url string, ok func(slurm.Node) bool) {
	t.Helper()
	var n slurm.Node
	if !fake.Eventually(60*time.Second, func() bool {
		get(t, url+"/verify")
		n = nodeState(t, s)
		return ok(n)
	}) {
		t.Fatalf("node state %+v did not change as expected", n)
	}
}
