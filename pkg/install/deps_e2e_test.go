package install_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// dpkgStatus is dpkg's own word on a package under root ("" when unknown).
func dpkgStatus(t *testing.T, root, pkg string) string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "--root="+root, "-W", "-f=${Status}", pkg).CombinedOutput()
	if err != nil {
		return ""
	}
	return string(out)
}

// (a) A node without bsdmainutils, jq and parallel: one apply installs them
// through the package manager, in one command (the Depends the packages
// declare, which name the prerequisites jq and parallel too), then Enroot;
// a second apply does nothing.
func TestDepsInstalledFromRepositoryThenEnroot(t *testing.T) {
	srv := testenv.StartArtifactServer(t)
	sums := release(t, srv, testenv.EnrootDebs, "4.1.2")
	n := newNode(t, testenv.DebRootLacking(t, "bsdmainutils", "jq", "parallel"))
	n.online(t, true)
	n.writeConfig(t, enrootYAML("4.1.2", srv.URL+"v{version}/", sums, ""))
	out, errOut := n.apply(t)
	for _, pkg := range []string{"enroot", "enroot+caps", "bsdmainutils", "jq", "parallel"} {
		if got := dpkgStatus(t, n.root, pkg); got != "install ok installed" {
			t.Fatalf("%s: %q after apply\n%s\n%s", pkg, got, out, errOut)
		}
	}
	calls := strings.Join(n.changingCalls(), "\n")
	deps := strings.Index(calls, "--force-confold install jq parallel bsdmainutils \n")
	enroot := strings.Index(calls, "dpkg --root="+n.root+" --force-confdef --force-confold -i ")
	if deps < 0 || enroot < deps || strings.Count(calls, " install ") != 1 || !strings.Contains(calls, "apt-get -o Acquire::http::Timeout=30") {
		t.Fatalf("want one apt-get for jq parallel bsdmainutils, then dpkg -i:\n%s", calls)
	}
	if !strings.Contains(errOut, "installing the dependencies the enroot packages declare") {
		t.Fatalf("the dependency install is not logged:\n%s", errOut)
	}

	n.resetCalls()
	before := testenv.Snapshot(t, n.root)
	out, _ = n.apply(t)
	if got := n.changingCalls(); len(got) != 0 || !strings.Contains(step(out, "enroot-packages"), "done") || !strings.Contains(step(out, "enroot-prereqs"), "done") {
		t.Fatalf("second apply: calls %q\n%s", got, out)
	}
	if changed := testenv.Changed(before, testenv.Snapshot(t, n.root)); len(changed) != 0 {
		t.Fatalf("second apply changed %v", changed)
	}
}

// (b) No repository reachable: the apply fails before dpkg -i, with one
// error naming every missing dependency and the package that needs it, and
// enroot is not installed at all (not left unpacked).
func TestMissingDepsAirGappedNothingInstalled(t *testing.T) {
	srv := testenv.StartArtifactServer(t)
	sums := release(t, srv, testenv.EnrootDebs, "4.1.2")
	n := newNode(t, testenv.DebRootLacking(t, "bsdmainutils", "mawk", "libcap2-bin"))
	n.writeConfig(t, enrootYAML("4.1.2", srv.URL+"v{version}/", sums, ""))
	out, errOut := n.apply(t)
	line := step(out, "enroot-packages")
	for _, want := range []string{"failed: nothing was installed",
		"bsdmainutils (needed by enroot 4.1.2-1)", "gawk | mawk (needed by enroot 4.1.2-1)",
		"libcap2-bin (needed by enroot+caps 4.1.2-1)", "apt-get could not install", "apt-get", "update: exit status 100"} {
		if !strings.Contains(line, want) {
			t.Errorf("error lacks %q:\n%s", want, line)
		}
	}
	if got := dpkgStatus(t, n.root, "enroot"); got != "" {
		t.Errorf("enroot is %q, want not installed at all", got)
	}
	for _, c := range n.changingCalls() {
		if strings.HasPrefix(c, "dpkg ") {
			t.Errorf("dpkg ran: %s", c)
		}
	}
	if !strings.Contains(out, "E: Failed to fetch: no repository reachable (test stub)") ||
		!strings.Contains(errOut, `"packages":["gawk","bsdmainutils","libcap2-bin"]`) {
		t.Errorf("apt-get's failure or what it was asked for is missing")
	}
	if t.Failed() {
		t.Log(out, errOut)
	}
}

// (c) A half-installed enroot (dpkg -i without its dependency: iU, as on a
// stock node before the agent handled dependencies) is reported by verify
// with its fix, and the next apply repairs it.
func TestHalfInstalledEnrootReportedAndRepaired(t *testing.T) {
	srv := testenv.StartArtifactServer(t)
	sums := release(t, srv, testenv.EnrootDebs, "4.1.2")
	root := testenv.DebRootLacking(t, "bsdmainutils")
	dir := t.TempDir()
	var debs []string
	for name, data := range testenv.EnrootDebs(t, "4.1.2") {
		os.WriteFile(filepath.Join(dir, name), data, 0o644)
		debs = append(debs, filepath.Join(dir, name))
	}
	out, err := exec.Command("dpkg", append([]string{"--root=" + root, "-i"}, debs...)...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "enroot depends on bsdmainutils") || dpkgStatus(t, root, "enroot") != "install ok unpacked" {
		t.Fatalf("fixture: dpkg -i must leave enroot unpacked (%v, status %q):\n%s", err, dpkgStatus(t, root, "enroot"), out)
	}
	n := newNode(t, root)
	n.writeConfig(t, enrootYAML("4.1.2", srv.URL+"v{version}/", sums, ""))

	report, code := n.verify(t)
	if code != 1 || !strings.Contains(report, "enroot 4.1.2-1 is unpacked but not configured (dpkg iU)") ||
		!strings.Contains(report, "run `enroot-agent apply`") || !strings.Contains(report, "apt-get install -f") {
		t.Fatalf("verify (exit %d) does not report the half-installed enroot:\n%s", code, report)
	}
	n.online(t, true)
	applied, errOut := n.apply(t)
	if !strings.Contains(step(applied, "enroot-packages"), "changed: repair enroot 4.1.2-1 is unpacked but not configured") ||
		dpkgStatus(t, n.root, "enroot") != "install ok installed" || dpkgStatus(t, n.root, "enroot+caps") != "install ok installed" {
		t.Fatalf("apply did not repair:\n%s\n%s", applied, errOut)
	}
	report, _ = n.verify(t)
	if line := lineWith(report, "enroot-version"); !strings.Contains(line, "✓") {
		t.Fatalf("verify after the repair: %s\n%s", line, report)
	}
}

func lineWith(text, word string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, word) {
			return l
		}
	}
	return "(no line with " + word + ")"
}
