package packaging

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/fake"
)

// The other architecture builds too: the binary is cross-compiled (GOARCH)
// and both packages carry the right architecture.
func TestCrossArchPackages(t *testing.T) {
	p := packages(t)
	other, otherDeb := "aarch64", "arm64"
	if rpmArch == "aarch64" {
		other, otherDeb = "x86_64", "amd64"
	}
	dist := t.TempDir()
	cmd := exec.Command("make", "--no-print-directory", "rpm", "deb", "ARCH="+other, "DIST="+dist, "GO="+fake.GoTool())
	cmd.Dir = fake.ModuleRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make rpm deb ARCH=%s: %v\n%s", other, err, out)
	}
	rpm := filepath.Join(dist, "enroot-agent-"+p.version+"-"+p.release+"."+other+".rpm")
	if arch := run(t, "rpm", "-qp", "--qf", "%{ARCH}", rpm); arch != other {
		t.Errorf("rpm arch %q, want %s", arch, other)
	}
	deb := filepath.Join(dist, "enroot-agent_"+p.version+"-"+p.release+"_"+otherDeb+".deb")
	if arch := strings.TrimSpace(run(t, "dpkg-deb", "--field", deb, "Architecture")); arch != otherDeb {
		t.Errorf("deb arch %q, want %s", arch, otherDeb)
	}
	root := t.TempDir()
	run(t, "dpkg-deb", "-x", deb, root)
	checkStatic(t, filepath.Join(root, "usr/bin/enroot-agent"), elfMachine[other])
	checkStatic(t, filepath.Join(root, "usr/libexec/enroot-agent/enroot-agent"), elfMachine[other])
	checkStatic(t, filepath.Join(root, "usr/libexec/enroot-agent/enroot-agent-aws"), elfMachine[other])
	if !strings.Contains(run(t, "rpm", "-qlp", rpm), "/usr/bin/enroot-agent") {
		t.Error("cross rpm lacks the binary")
	}
}
