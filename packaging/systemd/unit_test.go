// Package systemd holds the agent's unit file; this test checks it with the
// real systemd-analyze against a scratch root holding the real binary.
package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

const unitName = "enroot-agent.service"

// analyzeRoot builds a root where systemd-analyze finds the unit as shipped,
// the binary at its ExecStart path, /bin/kill for ExecReload, and the host's
// system units for the targets the unit is ordered against.
func analyzeRoot(t *testing.T, unit []byte) string {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze not found: apt-get install systemd")
	}
	root := t.TempDir()
	copyFile(t, testenv.Binary(t), filepath.Join(root, "usr/bin/enroot-agent"), 0o755)
	copyFile(t, "/bin/kill", filepath.Join(root, "bin/kill"), 0o755)
	write(t, filepath.Join(root, "etc/systemd/system", unitName), unit, 0o644)
	if err := os.MkdirAll(filepath.Join(root, "usr/lib/systemd"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("cp", "-r", "/usr/lib/systemd/system", filepath.Join(root, "usr/lib/systemd")).CombinedOutput()
	if err != nil {
		t.Fatalf("copy system units: %v\n%s", err, out)
	}
	return root
}

// verify runs systemd-analyze verify; it exits 0 even for unknown keys, so
// any output at all counts as a failure.
func verify(t *testing.T, unit []byte) (string, error) {
	root := analyzeRoot(t, unit)
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", "--root="+root, unitName).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestUnitVerifies(t *testing.T) {
	unit, err := os.ReadFile(unitName)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := verify(t, unit); err != nil || out != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, want := range []string{
		"Type=notify", "NotifyAccess=main", "WatchdogSec=", "Restart=on-failure",
		"After=network-online.target", "Before=slurmd.service", "ExecStart=/usr/bin/enroot-agent run",
		// Jobs read credentials under /run/enroot-agent: a stop must not delete them.
		"RuntimeDirectoryPreserve=yes", "StateDirectoryMode=0700", "RestartPreventExitStatus=78",
	} {
		if !strings.Contains(string(unit), "\n"+want) {
			t.Errorf("unit lacks %q", want)
		}
	}
}

// The harness must be able to fail: a misspelt key is reported.
func TestBrokenUnitIsCaught(t *testing.T) {
	unit, err := os.ReadFile(unitName)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(unit), "KillMode=mixed", "KillMode=mixd", 1)
	if out, _ := verify(t, []byte(broken)); !strings.Contains(out, "mixd") {
		t.Fatalf("misspelt KillMode not reported: %q", out)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	write(t, to, data, mode)
}

func write(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
}
