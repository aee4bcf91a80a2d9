package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/pyxis"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"go.uber.org/zap"
)

// The loop's timing, on the bubble's clock (see loop_test.go): the
// credentials restore, a step satisfied by a manual slurmd restart, one
// root cause everywhere, the watchdog's interval.

// A deleted credentials file is back within one verify.interval while a
// step fails and its retries back off, and while a converge hangs: the
// restore needs no converge and waits for none.
func TestCredentialsRestoredWithinOneInterval(t *testing.T) {
	t.Run("a step fails", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			build := &step{name: "pyxis-build", drifted: true, fail: errors.New("make: *** [spank_pyxis.so] Error 1")}
			n := startNode(t, "", &step{name: "state-dir"}, build)
			n.waitFor("READY=1", func() bool { return n.notes.has("READY=1") })
			// The first retry comes 30s after the start; right after it the
			// next is a minute away, so only the restore can act below.
			n.waitFor("the first retry", func() bool { return build.applied() == 2 })
			synctest.Wait()
			if err := os.Remove(n.credentialsFile()); err != nil {
				t.Fatal(err)
			}
			after(10 * time.Second)
			if !n.exists(n.credentialsFile()) {
				t.Fatalf("the credentials file is still missing one verify.interval later; STATUS=%s", n.notes.status())
			}
			if got := build.applied(); got != 2 {
				t.Fatalf("a converge ran (%d applies): the restore must not need one", got)
			}
			if n.logged("restored the credentials files from the tokens held (no ECR call)") != 1 {
				t.Fatal("the restore was not logged")
			}
			n.agree()
		})
	})
	t.Run("a converge hangs", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			conf := &step{name: "enroot-conf"}
			n := startNode(t, "", conf)
			n.waitFor("READY=1", func() bool { return n.notes.has("READY=1") })
			// Drift whose repair never ends (a package manager waiting on a
			// lock): the next look at the checks starts it.
			hold := make(chan struct{})
			defer close(hold)
			conf.set(func(s *step) { s.drifted, s.hold = true, hold })
			n.waitFor("the repair to start", func() bool { return conf.applied() == 1 })
			if err := os.Remove(n.credentialsFile()); err != nil {
				t.Fatal(err)
			}
			after(10 * time.Second)
			if !n.exists(n.credentialsFile()) {
				t.Fatalf("the credentials file waited for the converge in flight; STATUS=%s", n.notes.status())
			}
			if n.l.work.phase != converging {
				t.Fatal("the repair converge ended: the test proves nothing")
			}
		})
	})
}

// A damaged mode or group is put back within one interval too, and the log
// says what was changed.
func TestCredentialsModeRestoredAndLogged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := startNode(t, "", &step{name: "state-dir"})
		n.waitFor("READY=1", func() bool { return n.notes.has("READY=1") })
		if err := os.Chmod(n.credentialsFile(), 0o600); err != nil {
			t.Fatal(err)
		}
		after(10 * time.Second)
		if st, err := os.Stat(n.credentialsFile()); err != nil || st.Mode().Perm() != 0o644 {
			t.Fatalf("mode not restored: %v %v", st, err)
		}
		entries := n.logs.FilterMessage("credentials file changed").All()
		if len(entries) == 0 || entries[len(entries)-1].ContextMap()["changes"] != "mode 0600 -> 0644" {
			t.Fatalf("the mode change was not logged: %+v", entries)
		}
	})
}

// slurmdAt puts a running slurmd into root's /proc, started at the given
// time (btime an hour before the plugin was written; start times are in
// clock ticks), as pkg/slurm reads it.
func slurmdAt(t *testing.T, root string, started time.Time, plugin string) {
	t.Helper()
	st, err := os.Stat(plugin)
	if err != nil {
		t.Fatal(err)
	}
	boot := st.ModTime().Add(-time.Hour).Truncate(time.Second)
	testenv.MkdirAll(t, filepath.Join(root, "proc/4242"), 0o755)
	testenv.WriteFile(t, filepath.Join(root, "proc/stat"), []byte(fmt.Sprintf("cpu 0 0 0 0\nbtime %d\n", boot.Unix())), 0o644)
	ticks := started.Sub(boot) * 100 / time.Second
	testenv.WriteFile(t, filepath.Join(root, "proc/4242/stat"),
		[]byte(fmt.Sprintf("4242 (slurmd) S 1 4242 4242 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n", ticks)), 0o644)
}

// slurmd runs an older plugin and no systemd can restart it: the restart
// step's check fails, STATUS= and /verify say so in the same words, and
// repairs back off. Once an admin restarts slurmd (its start time in /proc
// follows the plugin), the step's only condition holds: the next look at
// the checks passes, within one verify.interval, with no converge between.
func TestSatisfiedStepPassesAtOnce(t *testing.T) {
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "no-bus"))
	synctest.Test(t, func(t *testing.T) {
		n := newNode(t)
		cfg := config.Default().Pyxis
		cfg.Install = false
		plugin := filepath.Join(n.root, cfg.Libdir, pyxis.PluginName)
		testenv.MkdirAll(t, filepath.Dir(plugin), 0o755)
		testenv.MkdirAll(t, filepath.Join(n.root, filepath.Dir(cfg.Plugstack)), 0o755)
		testenv.WriteFile(t, plugin, []byte("ELF v1"), 0o755)
		testenv.WriteFile(t, filepath.Join(n.root, cfg.Plugstack), []byte("required "+cfg.Libdir+"/"+pyxis.PluginName+"\n"), 0o644)
		mtime := func() time.Time { st, _ := os.Stat(plugin); return st.ModTime() }
		slurmdAt(t, n.root, mtime().Add(-30*time.Minute), plugin)
		restart := &pyxis.RestartStep{Cfg: cfg, Root: config.Root(n.root), StateDir: config.Default().StateDir, Log: n.log, Connect: slurm.DefaultConnect}
		n.start("", &step{name: pyxis.StepPlugstack}, restart)

		n.waitFor("READY=1", func() bool { return n.notes.has("READY=1") })
		if st := n.agree(); !strings.Contains(st, "check step slurmd-restart failing") {
			t.Fatalf("a pending restart: STATUS=%s", st)
		}
		// Repairs back off: the start's converge, one at once, one 30s later.
		starts := func() int {
			return n.logs.FilterMessage("step starting").FilterField(zap.String("step", pyxis.StepRestart)).Len()
		}
		n.waitFor("two repairs", func() bool { return starts() == 3 })
		synctest.Wait()
		n.agree()

		slurmdAt(t, n.root, mtime().Add(5*time.Second), plugin) // systemctl restart slurmd, by hand
		after(10 * time.Second)
		if st := n.agree(); !strings.HasPrefix(st, "ready: ") {
			t.Fatalf("one verify.interval after the manual restart: STATUS=%s", st)
		}
		if got := starts(); got != 3 {
			t.Fatalf("a converge ran before the check passed (%d restart plans applied)", got)
		}
		if n.logs.FilterMessage("check passes again").FilterField(zap.String("check", "step "+pyxis.StepRestart)).Len() != 1 {
			t.Fatal("the recovery was not logged")
		}
	})
}

// check is a domain check the test sets.
type check struct {
	name string
	mu   sync.Mutex
	fail string
}

func (c *check) Name() string { return c.name }
func (c *check) Run(context.Context) verify.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != "" {
		return verify.Failf("rebuild it", "%s", c.fail)
	}
	return verify.Ok("fine")
}
func (c *check) set(fail string) { c.mu.Lock(); c.fail = fail; c.mu.Unlock() }

// One root cause, the same words everywhere at the same moment: a plugin
// built for another Slurm fails its domain check and the step checks that
// follow from it. STATUS= (degraded, then repairing), /verify, the repair's
// log and the drain reason in a real slurmctld all name pyxis-plugin, not
// the first failing step; recovery resumes the node within one interval.
func TestOneRootCauseEverywhere(t *testing.T) {
	cluster := testenv.StartSlurm(t)
	for _, kv := range cluster.Env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	synctest.Test(t, func(t *testing.T) {
		n := newNode(t)
		plugin := &check{name: "pyxis-plugin"}
		fetch := &step{name: "pyxis-fetch"}
		build := &step{name: "pyxis-build"}
		n.domain = []verify.Check{plugin}
		n.start("  drain_on_failure: true\n  node_name: "+cluster.Node+"\n", fetch, build)
		n.waitFor("READY=1", func() bool { return n.notes.has("READY=1") })
		drained := func() (bool, string) {
			out, err := cluster.Scontrol("show", "node", cluster.Node)
			if err != nil {
				t.Fatal(err)
			}
			node, err := slurm.ParseNode(out)
			if err != nil {
				t.Fatal(err)
			}
			return node.Drain, node.Reason
		}
		if d, _ := drained(); d {
			t.Fatal("a healthy node was drained")
		}

		// Slurm is upgraded: the plugin check fails, and the fetch and
		// build steps' checks with it; the rebuild hangs on a download.
		hold := make(chan struct{})
		defer close(hold)
		plugin.set("spank_pyxis.so was built for Slurm 22.05.8 but Slurm 22.05.9 runs here")
		fetch.set(func(s *step) { s.drifted, s.hold = true, hold })
		build.set(func(s *step) { s.drifted = true })
		after(10 * time.Second)
		st := n.agree()
		if !strings.HasPrefix(st, "repairing: check pyxis-plugin failing since ") {
			t.Fatalf("STATUS=%s, want the repair named after the root cause", st)
		}
		if d, reason := drained(); !d || reason != ReasonPrefix+"pyxis-plugin" {
			t.Fatalf("drained %v with reason %q, want %q", d, reason, ReasonPrefix+"pyxis-plugin")
		}
		if e := n.logs.FilterMessage("a check failed; converging to repair the drift").All(); len(e) != 1 || e[0].ContextMap()["check"] != "pyxis-plugin" {
			t.Fatalf("the repair's log: %+v", e)
		}

		// The rebuild lands: within one interval everything says ready.
		plugin.set("")
		fetch.set(func(s *step) { s.drifted = false })
		build.set(func(s *step) { s.drifted = false })
		after(10 * time.Second)
		if st := n.agree(); !strings.HasPrefix(st, "ready: ") {
			t.Fatalf("STATUS=%s after the rebuild", st)
		}
		if d, reason := drained(); d {
			t.Fatalf("still drained (%q) one interval after every check passed", reason)
		}
	})
}

// With WatchdogSec=1s the loop pings every half second, from its first turn
// on: twenty pings in ten seconds of the loop's clock, exactly.
func TestWatchdogPingsAtHalfTheInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNode(t)
		n.watchdog = time.Second
		n.start("", &step{name: "state-dir"})
		synctest.Wait()
		first := n.notes.count("WATCHDOG=1")
		if first != 1 {
			t.Fatalf("%d pings before the loop's first tick, want 1", first)
		}
		after(10 * time.Second)
		if got := n.notes.count("WATCHDOG=1") - first; got != 20 {
			t.Fatalf("%d pings in 10s with WatchdogSec=1s, want 20", got)
		}
	})
}
