package install_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// preinstall puts fixture Enroot packages of version into root with the real
// dpkg, as an AMI that ships Enroot has them.
func preinstall(t *testing.T, root, version string) {
	t.Helper()
	dir := t.TempDir()
	args := []string{"--root=" + root, "-i"}
	for name, data := range testenv.EnrootDebs(t, version) {
		os.WriteFile(filepath.Join(dir, name), data, 0o644)
		args = append(args, filepath.Join(dir, name))
	}
	if out, err := exec.Command("dpkg", args...).CombinedOutput(); err != nil {
		t.Fatalf("dpkg -i %s: %v\n%s", version, err, out)
	}
}

// A ParallelCluster 3.11 AMI ships Enroot 3.4.1, which cannot pull from
// ECR: it is upgraded under the default policy.
func TestAMIEnroot341IsUpgraded(t *testing.T) {
	srv := testenv.StartArtifactServer(t)
	sums := release(t, srv, testenv.EnrootDebs, "4.1.2")
	root := testenv.DebRoot(t)
	preinstall(t, root, "3.4.1")
	n := newNode(t, root)
	n.writeConfig(t, enrootYAML("4.1.2", srv.URL+"v{version}/", sums, ""))
	out, errOut := n.apply(t)
	if installedVersion(t, root, "enroot") != "4.1.2-1" || !strings.Contains(step(out, "enroot-packages"), "changed: upgrade enroot 3.4.1 to 4.1.2") {
		t.Fatalf("3.4.1 not upgraded:\n%s\n%s", out, errOut)
	}
}

// A later AMI ships a newer Enroot (4.2.0): minimum keeps it (logged, and
// verify passes), exact downgrades it with a warning.
func TestAMIEnrootNewerKeptOrDowngraded(t *testing.T) {
	srv := testenv.StartArtifactServer(t)
	sums := release(t, srv, testenv.EnrootDebs, "4.1.2")
	root := testenv.DebRoot(t)
	preinstall(t, root, "4.2.0")
	n := newNode(t, root)
	n.writeConfig(t, enrootYAML("4.1.2", srv.URL+"v{version}/", sums, "  version_policy: minimum\n"))
	out, errOut := n.apply(t)
	if installedVersion(t, root, "enroot") != "4.2.0-1" || !strings.Contains(step(out, "enroot-packages"), "done") || srv.Requests("") != 0 ||
		!strings.Contains(errOut, "keeping the installed enroot, newer than enroot.version") {
		t.Fatalf("minimum must keep 4.2.0 and say so:\n%s\n%s", out, errOut)
	}
	if report, _ := n.verify(t); !strings.Contains(lineWith(report, "enroot-version"), "✓") {
		t.Fatalf("verify must accept 4.2.0 under minimum:\n%s", report)
	}

	n.writeConfig(t, enrootYAML("4.1.2", srv.URL+"v{version}/", sums, "  version_policy: exact\n"))
	if report, code := n.verify(t); code == 0 || !strings.Contains(report, "enroot 4.2.0 runs here, enroot.version is 4.1.2 (version_policy: exact)") {
		t.Fatalf("verify must fail 4.2.0 under exact (exit %d):\n%s", code, report)
	}
	out, errOut = n.apply(t)
	if installedVersion(t, root, "enroot") != "4.1.2-1" || !strings.Contains(step(out, "enroot-packages"), "changed: downgrade enroot 4.2.0 to 4.1.2") ||
		!strings.HasPrefix(lineWith(errOut, "DOWNGRADING enroot"), `{"level":"warn"`) || !strings.Contains(lineWith(errOut, "DOWNGRADING enroot"), `"installed":"4.2.0"`) {
		t.Fatalf("exact must downgrade loudly:\n%s\n%s", out, errOut)
	}
}
