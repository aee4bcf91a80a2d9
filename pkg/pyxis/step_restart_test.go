package pyxis

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func restartStep(t *testing.T) (*RestartStep, string) {
	t.Helper()
	root := t.TempDir()
	cfg := config.Default().Pyxis
	write(t, root+cfg.Libdir+"/spank_pyxis.so", "ELF v1")
	write(t, root+cfg.Plugstack, "required "+cfg.Libdir+"/spank_pyxis.so\n")
	write(t, root+"/var/lib/enroot-agent/.keep", "")
	return &RestartStep{Cfg: cfg, Root: config.Root(root), StateDir: "/var/lib/enroot-agent", Log: zap.NewNop(), Connect: slurm.DefaultConnect, Warned: &RestartWarnings{}}, root
}

func converge1(t *testing.T, s *RestartStep) (changes int, err error) {
	t.Helper()
	plan, err := s.Plan(context.Background())
	if err != nil || plan.Done() {
		return 0, err
	}
	return len(plan.Changes), plan.Apply(context.Background())
}

func TestRestartOnlyWhenPluginOrLineChanged(t *testing.T) {
	stub := testenv.StartSystemdStub(t)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", stub.Addr)
	s, root := restartStep(t)
	if n, err := converge1(t, s); n != 1 || err != nil {
		t.Fatalf("first run: %d changes, %v", n, err)
	}
	if n, err := converge1(t, s); n != 0 || err != nil {
		t.Fatalf("second run: %d changes, %v", n, err)
	}
	if got := stub.Restarts(); len(got) != 1 || got[0] != "slurmd.service" {
		t.Fatalf("restarts %v", got)
	}
	// Not "replace": the agent's unit is ordered before slurmd, so a replace
	// job asked for while the agent itself starts waits for the agent, which
	// waits for the job (a real systemd node hung 2 minutes on it).
	if got := stub.JobModes(); len(got) != 1 || got[0] != "ignore-dependencies" {
		t.Fatalf("restart job modes %v, want ignore-dependencies", got)
	}
	// A rebuilt plugin, then a changed argument: one restart each.
	write(t, root+s.Cfg.Libdir+"/spank_pyxis.so", "ELF v2")
	converge1(t, s)
	write(t, root+s.Cfg.Plugstack, "required "+s.Cfg.Libdir+"/spank_pyxis.so container_scope=job\n")
	converge1(t, s)
	if got := stub.Restarts(); len(got) != 3 {
		t.Fatalf("restarts %v, want 3", got)
	}
	// An inactive slurmd is not started; it loads the plugin when it starts.
	stub.SetState("slurmd.service", "inactive")
	write(t, root+s.Cfg.Libdir+"/spank_pyxis.so", "ELF v3")
	if plan, err := s.Plan(context.Background()); err != nil || !plan.Satisfied {
		t.Fatalf("an inactive slurmd loads the new plugin when it starts: only the record is left: %+v %v", plan, err)
	}
	if n, err := converge1(t, s); n != 1 || err != nil || len(stub.Restarts()) != 3 {
		t.Fatalf("inactive: %d changes, %v, restarts %v", n, err, stub.Restarts())
	}
	if n, _ := converge1(t, s); n != 0 {
		t.Fatal("pending after recording an inactive slurmd")
	}
	// Nor is a slurmd that is starting (at boot, after the agent).
	stub.SetState("slurmd.service", "activating")
	write(t, root+s.Cfg.Libdir+"/spank_pyxis.so", "ELF v3b")
	if n, err := converge1(t, s); n != 1 || err != nil || len(stub.Restarts()) != 3 {
		t.Fatalf("activating: %d changes, %v, restarts %v", n, err, stub.Restarts())
	}
	// A failed slurmd is started with the new plugin: Slurm 24.11+ slurmd
	// loads the plugstack when it starts and refuses to start with a Pyxis
	// built for an older Slurm, which is how a Slurm upgrade leaves it.
	stub.SetState("slurmd.service", "failed")
	write(t, root+s.Cfg.Libdir+"/spank_pyxis.so", "ELF v3c")
	if n, err := converge1(t, s); n != 1 || err != nil || len(stub.Restarts()) != 4 {
		t.Fatalf("failed: %d changes, %v, restarts %v", n, err, stub.Restarts())
	}
	// A failed job is an error, and stays pending.
	stub.SetState("slurmd.service", "active")
	stub.SetJobResult("failed")
	write(t, root+s.Cfg.Libdir+"/spank_pyxis.so", "ELF v4")
	if _, err := converge1(t, s); err == nil || !strings.Contains(err.Error(), `finished "failed"`) {
		t.Fatalf("failed job: %v", err)
	}
	if plan, _ := s.Plan(context.Background()); plan.Done() {
		t.Fatal("a failed restart must stay pending")
	}
}

// fakeSlurmd puts a running slurmd into root's /proc that started at the
// given time (btime one hour ago; start times are in clock ticks).
func fakeSlurmd(t *testing.T, root string, started time.Time) {
	t.Helper()
	boot := time.Now().Add(-time.Hour).Truncate(time.Second)
	write(t, root+"/proc/stat", fmt.Sprintf("cpu 0 0 0 0\nbtime %d\n", boot.Unix()))
	ticks := started.Sub(boot) * 100 / time.Second
	write(t, root+"/proc/4242/stat", fmt.Sprintf("4242 (slurmd) S 1 4242 4242 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n", ticks))
}

// Without systemd the restart is pending, not done: apply says so once per
// change (however many step objects plan it), nothing is recorded, and the
// step stays unconverged until slurmd's start time shows a restart.
func TestNoSystemBusRestartPending(t *testing.T) {
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+t.TempDir()+"/none")
	s, root := restartStep(t)
	fakeSlurmd(t, root, time.Now().Add(-30*time.Minute))
	core, logs := observer.New(zap.WarnLevel)
	s.Log = zap.New(core)
	var pending *converge.PendingError
	if n, err := converge1(t, s); n != 1 || !errors.As(err, &pending) || !strings.Contains(pending.Why, "systemctl restart slurmd") {
		t.Fatalf("no bus: %d changes, %v", n, err)
	}
	entries := logs.All()
	if len(entries) != 1 || !strings.Contains(entries[0].Message, "no systemd on the system bus") ||
		!strings.Contains(entries[0].ContextMap()["fix"].(string), "systemctl restart slurmd") {
		t.Fatalf("log: %+v", entries)
	}
	if _, err := os.Stat(s.recordPath()); !os.IsNotExist(err) {
		t.Fatal("no restart happened, so nothing may be recorded")
	}
	// The daemon builds its steps anew for each converge and check: the same
	// pending restart is not warned about again, a new plugin is.
	again := *s
	converge1(t, &again)
	if n := logs.Len(); n != 1 {
		t.Fatalf("%d warnings for one pending restart", n)
	}
	write(t, root+s.Cfg.Libdir+"/spank_pyxis.so", "ELF v2")
	converge1(t, s)
	if n := logs.Len(); n != 2 {
		t.Fatalf("%d warnings after the plugin changed, want 2", n)
	}
	if plan, err := s.Plan(context.Background()); err != nil || plan.Satisfied {
		t.Fatalf("a pending restart passed for converged: %+v %v", plan, err)
	}
	// An admin restarts slurmd by hand: its start time now follows the
	// plugin, so the plan only records it, and verify passes before any
	// converge has written the record.
	fakeSlurmd(t, root, time.Now().Add(2*time.Second))
	if plan, err := s.Plan(context.Background()); err != nil || !plan.Satisfied || plan.Done() {
		t.Fatalf("after a manual restart the plan must only record it: %+v %v", plan, err)
	}
	if n, err := converge1(t, s); n != 1 || err != nil {
		t.Fatalf("after a manual restart: %d changes, %v", n, err)
	}
	if plan, err := s.Plan(context.Background()); err != nil || !plan.Done() {
		t.Fatalf("not converged after the manual restart: %+v %v", plan, err)
	}
}

func applyPlan(t *testing.T, s converge.Step) int {
	t.Helper()
	plan, err := s.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := plan.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	return len(plan.Changes)
}

// The PATH the agent writes for slurmd restarts slurmd through the one
// restart step, after a daemon-reload when it is a drop-in; a node whose
// slurmd already had Slurm's bin is not restarted for it.
func TestSlurmdPathRestartsSlurmd(t *testing.T) {
	stub := testenv.StartSystemdStub(t)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", stub.Addr)
	s, root := restartStep(t)
	write(t, root+"/lib/systemd/system/slurmd.service", "[Service]\nExecStart=/opt/slurm/sbin/slurmd -D\n")
	applyPlan(t, s)
	if len(stub.Restarts()) != 1 {
		t.Fatalf("restarts %v", stub.Restarts())
	}

	// Debian's Slurm is on systemd's default PATH: nothing to write, and the
	// restart record stays what it was.
	s.Env = &slurm.PathStep{Root: s.Root, Prefix: "/usr"}
	if n := applyPlan(t, s.Env); n != 0 {
		t.Fatalf("PATH step changes %d things for /usr/bin", n)
	}
	if n := applyPlan(t, s); n != 0 || len(stub.Restarts()) != 1 {
		t.Fatalf("restarted for a PATH the agent did not write: %d changes, restarts %v", n, stub.Restarts())
	}

	s.Env = &slurm.PathStep{Root: s.Root, Prefix: "/opt/slurm"}
	if n := applyPlan(t, s.Env); n != 1 {
		t.Fatalf("PATH step: %d changes", n)
	}
	if n := applyPlan(t, s); n != 1 || len(stub.Restarts()) != 2 || stub.Reloads() != 1 {
		t.Fatalf("after the drop-in: %d changes, restarts %v, reloads %d", n, stub.Restarts(), stub.Reloads())
	}
	if n := applyPlan(t, s); n != 0 || len(stub.Restarts()) != 2 {
		t.Fatalf("second run: %d changes, restarts %v", n, stub.Restarts())
	}
	if req := s.Requires(); req[len(req)-1] != slurm.StepSlurmdPath {
		t.Fatalf("requires %q", req)
	}
}

// Without systemd, a slurmd started before the agent wrote its PATH still
// runs without it: the restart is pending until slurmd restarts.
func TestSlurmdPathPendingWithoutSystemd(t *testing.T) {
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+t.TempDir()+"/none")
	s, root := restartStep(t)
	write(t, root+"/etc/systemd/system/slurmd.service", "[Service]\nEnvironmentFile=-/etc/sysconfig/slurmd\n")
	fakeSlurmd(t, root, time.Now().Add(2*time.Second)) // started after the plugin
	if n, err := converge1(t, s); n != 1 || err != nil {
		t.Fatalf("before the PATH: %d changes, %v", n, err)
	}
	// The plugin and its plugstack line are older than this slurmd; only
	// the PATH is newer.
	old := time.Now().Add(-2 * time.Hour)
	for _, p := range []string{root + s.Cfg.Libdir + "/spank_pyxis.so", root + s.Cfg.Plugstack} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	fakeSlurmd(t, root, time.Now().Add(-time.Minute))
	s.Env = &slurm.PathStep{Root: s.Root, Prefix: "/opt/slurm"}
	applyPlan(t, s.Env)
	var pending *converge.PendingError
	if _, err := converge1(t, s); !errors.As(err, &pending) || !strings.Contains(pending.Why, "systemctl restart slurmd") {
		t.Fatalf("slurmd started before its PATH changed: %v", err)
	}
}
