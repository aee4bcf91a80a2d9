package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The real binary under a stand-in systemd: READY only once the node is
// converged, the credentials written and the listener bound; STATUS lines;
// watchdog pings at half of WATCHDOG_USEC; STOPPING and a prompt exit on
// SIGTERM.
func TestRunTellsSystemd(t *testing.T) {
	root, listen := daemonRoot(t, "")
	a := startAgent(t, root, listen, time.Second)
	_, si := a.waitNotify(0, "STATUS=starting: converging the node", 30*time.Second)
	_, ri := a.waitNotify(0, "READY=1", 90*time.Second)
	// Right at READY: the listener answers and the credentials jobs read exist.
	if code, body := get(t, "http://"+listen+"/healthz"); code != 200 {
		t.Fatalf("/healthz right after READY: %d %s", code, body)
	}
	if _, err := os.Stat(filepath.Join(root, "run/enroot-agent/enroot-config/.credentials")); err != nil {
		t.Fatalf("READY before the first refresh wrote the credentials: %v", err)
	}
	if _, fi, ok := a.notify.Wait(0, "STATUS=starting: refreshing ECR credentials", 0); !ok || fi > ri || si > ri {
		t.Fatalf("READY=1 (#%d) did not follow converge and refresh: %q", ri, states(a.notify.Messages()))
	}
	st, _ := a.waitNotify(ri, "STATUS=", 10*time.Second)
	want := "ECR 1 registry, token valid until "
	if !strings.Contains(st.State, want) || !strings.Contains(st.State, "next refresh") {
		t.Fatalf("STATUS after READY = %q, want it to say %q", st.State, want)
	}

	// Watchdog: WATCHDOG_USEC=1s reaches the loop, which keeps pinging
	// after READY. (The interval, half of WatchdogSec, is counted on the
	// loop's own clock in pkg/agent: TestWatchdogPingsAtHalfTheInterval.)
	_, wi := a.waitNotify(ri, "WATCHDOG=1", 30*time.Second)
	a.waitNotify(wi+1, "WATCHDOG=1", 30*time.Second)

	n := len(a.notify.Messages())
	a.signal(syscall.SIGTERM)
	a.waitNotify(n, "STOPPING=1", 5*time.Second)
	took := a.waitExit(5 * time.Second)
	if a.err != nil {
		t.Fatalf("exit after SIGTERM: %v", a.err)
	}
	t.Logf("READY after %d notifications; exited %s after SIGTERM", ri, took)
}

// Without WATCHDOG_USEC, or with a WATCHDOG_PID naming another process
// (systemd's variables inherited by a child), the agent never pings.
func TestNoWatchdogForAnotherPID(t *testing.T) {
	root, listen := daemonRoot(t, "")
	a := startAgent(t, root, listen, 0, "WATCHDOG_USEC=200000", "WATCHDOG_PID=1")
	// A watched loop pings as it starts, long before READY=1 (which waits
	// for the converge, the refresh and the checks), and each later turn
	// every 100ms: none by READY means the watchdog is off, with no
	// window to wait out.
	_, ri := a.waitNotify(0, "READY=1", 90*time.Second)
	a.waitNotify(ri, "STATUS=", 10*time.Second)
	if _, _, ok := a.notify.Wait(0, "WATCHDOG=1", 0); ok {
		t.Fatalf("pinged a watchdog meant for pid 1: %q", states(a.notify.Messages()))
	}
}

// SIGHUP with an invalid config keeps the running one (and says so); with a
// valid one the agent reconverges and moves its listener.
func TestReload(t *testing.T) {
	root, listen, bus := healthyNode(t, "")
	a := startAgent(t, root, listen, 0, bus)
	_, ri := a.waitNotify(0, "READY=1", 90*time.Second)
	good, err := os.ReadFile(configPath(root))
	if err != nil {
		t.Fatal(err)
	}
	appendConfig(t, root, "enroot:\n  colour: blue\n")
	a.signal(syscall.SIGHUP)
	_, bi := a.waitNotify(ri, "STATUS=", 10*time.Second)
	st, _ := a.waitNotify(bi, "STATUS=degraded: config reload rejected", 10*time.Second)
	a.waitLog("enroot.colour: unknown key", 5*time.Second)
	if code, _ := get(t, "http://"+listen+"/healthz"); code != 200 {
		t.Fatalf("/healthz after a rejected reload: %d", code)
	}
	t.Logf("after the invalid reload: %s", st.State)

	moved := freeAddr(t)
	newCfg := strings.Replace(string(good), "listen: "+listen, "listen: "+moved, 1)
	if err := os.WriteFile(configPath(root), []byte(newCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	n := len(a.notify.Messages())
	a.signal(syscall.SIGHUP)
	_, li := a.waitNotify(n, "RELOADING=1", 10*time.Second)
	_, ri = a.waitNotify(li, "READY=1", 60*time.Second)
	if code, _ := get(t, "http://"+moved+"/healthz"); code != 200 {
		t.Fatalf("new listener: %d", code)
	}
	if _, err := (&net.Dialer{Timeout: time.Second}).Dial("tcp", listen); err == nil {
		t.Fatal("the old listener still accepts connections after the reload")
	}
	st, _ = a.waitNotify(ri, "STATUS=", 10*time.Second)
	if strings.Contains(st.State, "rejected") || !strings.Contains(st.State, "ready: ") {
		t.Fatalf("STATUS after a good reload: %q", st.State)
	}
	a.signal(syscall.SIGTERM)
	a.waitExit(5 * time.Second)
}

// SIGTERM while the first ECR call hangs: the call is cancelled and the
// agent exits within 5s.
func TestSIGTERMDuringHangingECR(t *testing.T) {
	root, listen := daemonRoot(t, "")
	awsFor(t).ecr.Hang(true)
	a := startAgent(t, root, listen, 0)
	a.waitNotify(0, "STATUS=starting: refreshing ECR credentials", 60*time.Second)
	a.signal(syscall.SIGTERM)
	a.waitNotify(0, "STOPPING=1", 5*time.Second)
	took := a.waitExit(5 * time.Second)
	if a.err != nil {
		t.Fatalf("exit: %v", a.err)
	}
	// Every message up to the exit: READY=1 never came, since the refresh
	// it waits for never ended.
	if _, _, ok := a.notify.Wait(0, "READY=1", 0); ok {
		t.Fatal("READY before the hanging refresh ended")
	}
	t.Logf("exited %s after SIGTERM during a hanging ECR call", took)
}

// A bad config fails the start: every problem on stderr (the journal), a
// STATUS= line saying so, and exit 78, which the unit does not restart.
func TestRunRefusesBadConfig(t *testing.T) {
	root, listen := daemonRoot(t, "")
	appendConfig(t, root, "ecr:\n  refresh_interval: 6x\n")
	a := startAgent(t, root, listen, 0)
	st, _ := a.waitNotify(0, "STATUS=failed: invalid config, 1 problem(s), first: ", 30*time.Second)
	a.waitExit(10 * time.Second)
	if ee, ok := a.err.(*exec.ExitError); !ok || ee.ExitCode() != 78 {
		t.Fatalf("exit %v, want 78", a.err)
	}
	if !strings.Contains(st.State, "ecr.refresh_interval") || !strings.Contains(a.log.String(), `ecr.refresh_interval: "6x" is not a duration`) {
		t.Fatalf("STATUS %q / log:\n%s", st.State, a.log)
	}
	if _, _, ok := a.notify.Wait(0, "READY=1", 0); ok {
		t.Fatal("READY=1 with a bad config")
	}
}
