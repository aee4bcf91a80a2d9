package cluster

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/cluster"
)

// credentialsFile is the shared netrc every job's enroot reads.
const credentialsFile = "/run/enroot-agent/enroot-config/.credentials"

// testWatchdog is scenario 4, with the shipped unit (WatchdogSec=60s,
// Restart=on-failure, RestartSec=15s) under the node's real systemd: a
// stopped agent (SIGSTOP) is killed by the watchdog and started again, and
// a killed one (SIGKILL) is restarted by Restart=; each node becomes ready
// again, and the credentials file stays for jobs all along.
func testWatchdog(t *testing.T, c *bed) {
	t.Run("SIGSTOP", func(t *testing.T) {
		t.Parallel()
		n := c.Computes[1]
		gone := watchFile(t, n, credentialsFile)
		before := unitProps(t, n, "enroot-agent.service", "MainPID", "NRestarts")
		if out, err := n.Output(ctxFor(t, time.Minute), "kill", "-STOP", before["MainPID"]); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		// A job on the node while its agent hangs: the agent is not in the
		// job's path, the credentials it wrote are.
		out, err := c.Head.UserOutput(ctxFor(t, 3*time.Minute), cluster.User,
			append([]string{cluster.SrunArgs(1)[0], "-w", n.Name}, cluster.SrunArgs(1)[1:]...)...)
		if err != nil || strings.TrimSpace(out) != c.Services.Greeting+" on "+n.Name {
			t.Errorf("a container job on %s while its agent is stopped: %v\n%s", n.Name, err, out)
		}
		restartedReady(t, c, n, before, "Watchdog timeout", "with signal SIGABRT")
		if g := gone.Load(); g > 0 {
			t.Errorf("%s: %s was missing %d times while the agent hung and restarted", n.Name, credentialsFile, g)
		}
	})
	t.Run("SIGKILL", func(t *testing.T) {
		t.Parallel()
		n := c.Computes[2]
		gone := watchFile(t, n, credentialsFile)
		before := unitProps(t, n, "enroot-agent.service", "MainPID", "NRestarts")
		if out, err := n.Output(ctxFor(t, time.Minute), "kill", "-KILL", before["MainPID"]); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		restartedReady(t, c, n, before, "Main process exited, code=killed, status=9/KILL", "Scheduled restart job")
		if g := gone.Load(); g > 0 {
			t.Errorf("%s: %s was missing %d times while the agent was killed and restarted", n.Name, credentialsFile, g)
		}
	})
}

// restartedReady waits until systemd restarted the agent on n (one more
// automatic restart, another main process), the unit is active with a
// ready STATUS, and /verify passes; the unit's journal must say why.
func restartedReady(t *testing.T, c *bed, n *cluster.Node, before map[string]string, why ...string) {
	t.Helper()
	restarts, _ := strconv.Atoi(before["NRestarts"])
	var now map[string]string
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		now = unitProps(t, n, "enroot-agent.service", "MainPID", "NRestarts", "ActiveState", "StatusText")
		if r, _ := strconv.Atoi(now["NRestarts"]); r == restarts+1 && now["MainPID"] != before["MainPID"] &&
			now["ActiveState"] == "active" && strings.HasPrefix(now["StatusText"], "ready: ") {
			break
		}
		time.Sleep(time.Second)
	}
	journal := c.Services.Redact(n.Journal(ctxFor(t, time.Minute), "enroot-agent.service"))
	if r, _ := strconv.Atoi(now["NRestarts"]); r != restarts+1 || now["ActiveState"] != "active" ||
		!strings.HasPrefix(now["StatusText"], "ready: ") {
		t.Fatalf("%s: the agent was not restarted once and ready within 5m: before %v, now %v\n%s", n.Name, before, now, tail(journal, 4000))
	}
	for _, w := range why {
		if !strings.Contains(journal, w) {
			t.Errorf("%s: the journal does not say %q:\n%s", n.Name, w, tail(journal, 4000))
		}
	}
	waitVerify(t, n, true, "")
}

// watchFile checks, every few milliseconds until the test ends, that path
// exists on n, and counts the times it did not.
func watchFile(t *testing.T, n *cluster.Node, path string) *atomic.Int64 {
	var gone atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	hostPath := n.HostPath(path)
	if _, err := os.Stat(hostPath); err != nil {
		t.Fatalf("%s: %v", n.Name, err)
	}
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if st, err := os.Stat(hostPath); err != nil || st.Size() == 0 {
				gone.Add(1)
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return &gone
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
