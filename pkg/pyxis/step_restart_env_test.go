package pyxis

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
)

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
