package install_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
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
	s3 := testenv.StartS3Server(t)
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
	arch, _ := pkgrepo.Arch()
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

// (d) The rpm path with the real rpm --root and the dnf stub: without a
// repository the apply names every missing Requires and the package that
// needs it, and installs nothing; with one, dnf installs them and then rpm
// installs Enroot; a second apply does nothing.
func TestRPMDepsFromRepository(t *testing.T) {
	srv := testenv.StartArtifactServer(t)
	sums := release(t, srv, testenv.EnrootRPMs, "4.1.2")
	n := newNode(t, testenv.RPMRootLacking(t, "libcap", "shadow-utils", "gawk"))
	n.writeConfig(t, enrootYAML("4.1.2", srv.URL+"v{version}/", sums, ""))
	arch, _ := pkgrepo.Arch()

	out, errOut := n.apply(t)
	line := step(out, "enroot-packages")
	for _, want := range []string{"failed: nothing was installed", "gawk (needed by enroot-4.1.2-1.el8." + arch + ")",
		"shadow-utils (needed by enroot-4.1.2-1.el8." + arch + ")", "libcap (needed by enroot+caps-4.1.2-1.el8." + arch + ")", "dnf could not install"} {
		if !strings.Contains(line, want) {
			t.Errorf("error lacks %q:\n%s", want, line)
		}
	}
	if rpmVersion(t, n.root, "enroot") != "none" || !strings.Contains(out, "no repository reachable (test stub)") {
		t.Fatalf("air-gapped apply installed enroot or hid dnf's error:\n%s\n%s", out, errOut)
	}

	n.online(t, true)
	n.resetCalls()
	out, errOut = n.apply(t)
	if rpmVersion(t, n.root, "enroot") != "4.1.2-1.el8" || rpmVersion(t, n.root, "enroot+caps") != "4.1.2-1.el8" || rpmVersion(t, n.root, "libcap") != "2.48-1" {
		t.Fatalf("online apply:\n%s\n%s", out, errOut)
	}
	calls := strings.Join(n.changingCalls(), "\n")
	dnf := strings.Index(calls, "dnf --installroot "+n.root+" -y --setopt=timeout=30 --setopt=retries=2 install gawk shadow-utils libcap")
	rpm := strings.Index(calls, "rpm --root "+n.root+" -U --oldpackage --replacepkgs ")
	if dnf < 0 || rpm < dnf {
		t.Fatalf("want dnf for the Requires, then rpm -U:\n%s", calls)
	}
	n.resetCalls()
	out, _ = n.apply(t)
	if got := n.changingCalls(); len(got) != 0 || !strings.Contains(step(out, "enroot-packages"), "done") {
		t.Fatalf("second apply: %q\n%s", got, out)
	}
}

// An rpm upgrade that never finished leaves two versions of enroot
// installed: verify reports it with the fix, and apply repairs it.
func TestRPMEnrootInstalledTwiceRepaired(t *testing.T) {
	srv := testenv.StartArtifactServer(t)
	sums := release(t, srv, testenv.EnrootRPMs, "4.1.2")
	root := testenv.RPMRoot(t)
	dir := t.TempDir()
	for _, v := range []string{"4.1.2", "4.1.3"} {
		for name, data := range testenv.EnrootRPMs(t, v) {
			if strings.HasPrefix(name, "enroot-") {
				os.WriteFile(filepath.Join(dir, name), data, 0o644)
				if out, err := exec.Command("rpm", "--root", root, "-i", "--replacefiles", filepath.Join(dir, name)).CombinedOutput(); err != nil {
					t.Fatalf("fixture %s: %v\n%s", name, err, out)
				}
			}
		}
	}
	n := newNode(t, root)
	n.writeConfig(t, enrootYAML("4.1.2", srv.URL+"v{version}/", sums, "  version_policy: exact\n"))
	report, code := n.verify(t)
	if code != 1 || !strings.Contains(report, "enroot 4.1.2-1.el8 and 4.1.3-1.el8 is installed twice") || !strings.Contains(report, "enroot-agent apply") {
		t.Fatalf("verify (exit %d):\n%s", code, report)
	}
	out, errOut := n.apply(t)
	if got := rpmVersion(t, root, "enroot"); got != "4.1.2-1.el8" || !strings.Contains(step(out, "enroot-packages"), "changed: repair") {
		t.Fatalf("enroot %q after apply:\n%s\n%s", got, out, errOut)
	}
}
