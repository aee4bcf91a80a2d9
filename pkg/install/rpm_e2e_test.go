package install_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

func rpmVersion(t *testing.T, root, pkg string) string {
	out, err := exec.Command("rpm", "--root", root, "-q", "--qf", "%{VERSION}-%{RELEASE}", pkg).CombinedOutput()
	if err != nil {
		return "none"
	}
	return string(out)
}

// TestRPMInstallAndUpgrade: a Rocky 9 scratch root, real rpm --root, the
// packages served from a local S3-compatible endpoint through the real S3
// client, pinned by a SHA256SUMS file beside them.
func TestRPMInstallAndUpgradeFromS3(t *testing.T) {
	s3 := testenv.NewS3Server(t)
	for _, v := range []string{"4.1.2", "4.1.3"} {
		var sums strings.Builder
		for name, data := range testenv.EnrootRPMs(t, v) {
			s3.Put("mirror", "enroot/v"+v+"/"+name, data)
			sums.WriteString(sum(data) + "  " + name + "\n")
		}
		s3.Put("mirror", "enroot/v"+v+"/SHA256SUMS", []byte(sums.String()))
	}
	n := newNode(t, testenv.RPMRoot(t))
	n.env = append(n.env, s3.Env()...)
	n.writeConfig(t, "enroot:\n  version: \"4.1.2\"\n  source: s3://mirror/enroot/v{version}/\n  require_checksums: true\n")
	out, errOut := n.apply(t)
	if rpmVersion(t, n.root, "enroot") != "4.1.2-1.el8" || rpmVersion(t, n.root, "enroot+caps") != "4.1.2-1.el8" {
		t.Fatalf("first apply:\n%s\n%s", out, errOut)
	}
	arch, _ := testenv.Arch()
	if got := n.changingCalls(); len(got) != 1 || !strings.HasPrefix(got[0], "rpm --root "+n.root+" -U --oldpackage --replacepkgs ") ||
		!strings.Contains(got[0], "enroot+caps-4.1.2-1.el8."+arch+".rpm") {
		t.Fatalf("calls %q", got)
	}
	requests, unsigned := s3.Requests()
	if unsigned != 0 || requests != 3 {
		t.Fatalf("%d S3 requests (%d unsigned), want one SHA256SUMS and two packages", requests, unsigned)
	}

	n.resetCalls()
	out, _ = n.apply(t)
	if again, _ := s3.Requests(); again != requests || len(n.changingCalls()) != 0 || !strings.Contains(step(out, "enroot-packages"), "done") {
		t.Fatalf("second apply: %d S3 requests, calls %q\n%s", again-requests, n.changingCalls(), out)
	}

	n.writeConfig(t, "enroot:\n  version: \"4.1.3\"\n  source: s3://mirror/enroot/v{version}/\n")
	out, errOut = n.apply(t)
	if rpmVersion(t, n.root, "enroot") != "4.1.3-1.el8" || rpmVersion(t, n.root, "enroot+caps") != "4.1.3-1.el8" {
		t.Fatalf("upgrade:\n%s\n%s", out, errOut)
	}
}
