package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/fake/systemd"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/pyxis"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// upgradeNode is one node of a rolling Slurm upgrade: its own root, Slurm
// and systemd, and the shared plugstack directory mounted at the same path.
type upgradeNode struct {
	root string
	env  []string
	stub *systemd.Stub
}

func newUpgradeNode(t *testing.T, shared string) *upgradeNode {
	t.Helper()
	n := &upgradeNode{root: sandbox(t)}
	slurmAt(t, n.root, slurmA)
	inRoot := filepath.Join(n.root, shared)
	testenv.MkdirAll(t, filepath.Dir(inRoot), 0o755)
	if err := os.Symlink(shared, inRoot); err != nil { // the NFS mount of /opt/slurm
		t.Fatal(err)
	}
	// The config ends with the pyxis section: this line joins it.
	appendConfig(t, n.root, "  plugstack: "+shared+"/plugstack.conf\n")
	stub := testenv.StartSystemdStub(t)
	n.stub, n.env = stub, []string{"DBUS_SYSTEM_BUS_ADDRESS=" + stub.Addr}
	return n
}

// apply runs `apply` on the node and returns each step's outcome.
func (n *upgradeNode) apply(t *testing.T) map[string]string {
	t.Helper()
	out, logs, code := n.run(t, "apply")
	if code != 0 {
		t.Fatalf("apply in %s: exit %d\n%s%s", n.root, code, out, logs)
	}
	return stepOutcomes(out)
}

// check runs verify here and returns one check's result.
func (n *upgradeNode) check(t *testing.T, name string) verify.Result {
	t.Helper()
	// The exit status covers every check; one is asked about.
	out, logs, _ := n.run(t, "verify", "--local", "--json")
	var rep verify.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("verify --json: %v\n%s%s", err, out, logs)
	}
	for _, r := range rep.Results {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no check %s in\n%s", name, out)
	return verify.Result{}
}

// run runs the real binary in the node's root: stdout, stderr, exit status.
func (n *upgradeNode) run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t), append([]string{"--root", n.root}, args...)...)
	cmd.Env = append(append([]string{}, awsFor(t).env...), n.env...)
	var out, logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &logs
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), logs.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), logs.String(), 0
}

// A rolling Slurm upgrade on a shared /opt/slurm: node A moves to the new
// Slurm first and rebuilds its node-local plugin; the shared plugstack names
// the same path on every node, so it is not rewritten, and node B (still on
// the old Slurm) keeps its plugin, its build record and its slurmd.
func TestRollingSlurmUpgradeSharedPlugstack(t *testing.T) {
	shared := t.TempDir()
	testenv.WriteFile(t, filepath.Join(shared, "plugstack.conf"), []byte(adminLines), 0o644)
	a, b := newUpgradeNode(t, shared), newUpgradeNode(t, shared)
	a.apply(t)
	b.apply(t)
	for _, n := range []*upgradeNode{a, b} {
		if rec := buildRecord(t, n.root); rec.SlurmVersion != slurmA {
			t.Fatalf("%s: built for Slurm %q, want %s", n.root, rec.SlurmVersion, slurmA)
		}
	}
	sharedBefore, bBefore := testenv.Snapshot(t, shared), testenv.Snapshot(t, b.root)
	plugstack, _ := os.ReadFile(filepath.Join(shared, "plugstack.conf.d/pyxis.conf"))
	restartsB := len(b.stub.Restarts())

	slurmAt(t, a.root, slurmB)
	got := a.apply(t)
	if got[pyxis.StepBuild] != "changed" || got[pyxis.StepPlugstack] != "done" || got[pyxis.StepRestart] != "changed" {
		t.Fatalf("node A after its upgrade: %v, want a rebuild and a restart, the plugstack done", got)
	}
	if rec := buildRecord(t, a.root); rec.SlurmVersion != slurmB {
		t.Fatalf("node A rebuilt for Slurm %q, want %s", rec.SlurmVersion, slurmB)
	}
	if r := a.check(t, "pyxis-plugin"); r.Status != verify.OK {
		t.Fatalf("node A: %+v", r)
	}
	if touched := testenv.Changed(sharedBefore, testenv.Snapshot(t, shared)); len(touched) > 0 {
		now, _ := os.ReadFile(filepath.Join(shared, "plugstack.conf.d/pyxis.conf"))
		t.Fatalf("node A's upgrade touched the shared plugstack: %v\nbefore:\n%s\nafter:\n%s", touched, plugstack, now)
	}

	// Node B, not yet upgraded: still converged, nothing to do.
	if touched := testenv.Changed(bBefore, testenv.Snapshot(t, b.root)); len(touched) > 0 {
		t.Fatalf("node B touched: %v", touched)
	}
	outcomes := b.apply(t)
	if len(outcomes) == 0 || outcomes[pyxis.StepBuild] != "done" {
		t.Fatalf("node B's apply: %v", outcomes)
	}
	for step, outcome := range outcomes {
		if outcome != "done" {
			t.Errorf("node B, still on Slurm %s: %s %s", slurmA, step, outcome)
		}
	}
	if r := b.check(t, "pyxis-plugin"); r.Status != verify.OK || buildRecord(t, b.root).SlurmVersion != slurmA {
		t.Fatalf("node B: %+v", r)
	}
	if n := len(b.stub.Restarts()); n != restartsB {
		t.Fatalf("node B's slurmd restarted %d more times", n-restartsB)
	}
	if touched := testenv.Changed(bBefore, testenv.Snapshot(t, b.root)); len(touched) > 0 {
		t.Fatalf("node B's apply touched %v", touched)
	}
}
