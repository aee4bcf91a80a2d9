package install_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// TestDebInstallUpgradeAndMismatch runs the real binary against a scratch
// Ubuntu root: real dpkg installs the fixture packages fetched from a local
// server, and every package tool call is logged.
func TestDebInstallUpgradeAndMismatch(t *testing.T) {
	srv := testenv.StartArtifactServer(t)
	sums := release(t, srv, testenv.EnrootDebs, "4.1.2", "4.1.3")
	n := newNode(t, testenv.DebRoot(t))
	source := srv.URL + "v{version}/"

	n.writeConfig(t, enrootYAML("4.1.2", source, sums, ""))
	out, errOut := n.apply(t)
	if !strings.Contains(step(out, "enroot-packages"), "changed") || installedVersion(t, n.root, "enroot") != "4.1.2-1" ||
		installedVersion(t, n.root, "enroot+caps") != "4.1.2-1" {
		t.Fatalf("first apply did not install 4.1.2:\n%s\n%s", out, errOut)
	}
	if got := n.changingCalls(); len(got) != 1 || !strings.HasPrefix(got[0], "dpkg --root="+n.root+" --force-confdef --force-confold -i ") {
		t.Fatalf("first apply ran %q, want one dpkg -i", got)
	}
	if srv.Requests("") != 2 {
		t.Fatalf("%d requests, want the two packages", srv.Requests(""))
	}

	n.resetCalls()
	out, _ = n.apply(t)
	if got := n.changingCalls(); len(got) != 0 || srv.Requests("") != 2 || !strings.Contains(step(out, "enroot-packages"), "done") {
		t.Fatalf("second apply: %d requests, calls %q\n%s", srv.Requests(""), got, out)
	}

	n.writeConfig(t, enrootYAML("4.1.3", source, sums, ""))
	out, errOut = n.apply(t)
	if installedVersion(t, n.root, "enroot") != "4.1.3-1" || installedVersion(t, n.root, "enroot+caps") != "4.1.3-1" ||
		!strings.Contains(step(out, "enroot-packages"), "changed: upgrade enroot 4.1.2 to 4.1.3") {
		t.Fatalf("upgrade to 4.1.3 failed:\n%s\n%s", out, errOut)
	}

	// Back to 4.1.2 under the default version_policy (minimum): the newer
	// enroot stays, and the log says so.
	before := srv.Requests("")
	n.writeConfig(t, enrootYAML("4.1.2", source, sums, ""))
	out, errOut = n.apply(t)
	if installedVersion(t, n.root, "enroot") != "4.1.3-1" || !strings.Contains(step(out, "enroot-packages"), "done") ||
		!strings.Contains(errOut, `keeping the installed enroot, newer than enroot.version`) || !strings.Contains(errOut, `"installed":"4.1.3"`) {
		t.Fatalf("minimum policy must keep 4.1.3:\n%s\n%s", out, errOut)
	}
	// With exact: a downgrade, served from the cache, and a loud warning.
	n.writeConfig(t, enrootYAML("4.1.2", source, sums, "  version_policy: exact\n"))
	out, errOut = n.apply(t)
	if installedVersion(t, n.root, "enroot") != "4.1.2-1" || srv.Requests("") != before || !strings.Contains(out, "downgrade enroot 4.1.3 to 4.1.2") ||
		!strings.Contains(errOut, `"level":"warn"`) || !strings.Contains(errOut, "DOWNGRADING enroot") {
		t.Fatalf("downgrade: %s, %d new requests\n%s\n%s", installedVersion(t, n.root, "enroot"), srv.Requests("")-before, out, errOut)
	}

	// 4.1.4 is served, but its pinned digest is wrong: nothing is installed.
	for name, data := range testenv.EnrootDebs(t, "4.1.4") {
		srv.Put("v4.1.4/"+name, data)
		sums[name] = strings.Repeat("0", 64)
	}
	n.writeConfig(t, enrootYAML("4.1.4", source, sums, ""))
	n.resetCalls()
	out, errOut = n.apply(t)
	line := step(out, "enroot-packages")
	if !strings.Contains(line, "failed") || !strings.Contains(line, "sha256 mismatch") || !strings.Contains(line, "expected "+strings.Repeat("0", 64)) ||
		!strings.Contains(line, "enroot_4.1.4-1_") || !strings.Contains(line, "nothing was installed") {
		t.Fatalf("mismatch not reported: %s\n%s", line, errOut)
	}
	if got := n.changingCalls(); len(got) != 0 || installedVersion(t, n.root, "enroot") != "4.1.2-1" {
		t.Fatalf("mismatch changed the node: calls %q, enroot %s", got, installedVersion(t, n.root, "enroot"))
	}
	cached, _ := filepath.Glob(filepath.Join(n.root, "var/cache/enroot-agent/enroot/*4.1.4*"))
	if len(cached) != 0 {
		t.Fatalf("mismatched files kept in the cache: %v", cached)
	}
}

func TestServerErrorsThenSuccess(t *testing.T) {
	srv := testenv.StartArtifactServer(t)
	sums := release(t, srv, testenv.EnrootDebs, "4.1.2")
	for name := range sums {
		srv.Fail("v4.1.2/"+name, pkgrepo.Fault{Status: 500}, pkgrepo.Fault{Status: 500})
	}
	n := newNode(t, testenv.DebRoot(t))
	n.writeConfig(t, enrootYAML("4.1.2", srv.URL+"v{version}/", sums, ""))
	out, errOut := n.apply(t)
	if installedVersion(t, n.root, "enroot") != "4.1.2-1" || srv.Requests("") != 6 {
		t.Fatalf("%d requests\n%s\n%s", srv.Requests(""), out, errOut)
	}
	if !strings.Contains(errOut, "retrying") {
		t.Fatalf("retries not logged:\n%s", errOut)
	}
}

func TestDryRunListsDownloadsAndCommands(t *testing.T) {
	srv := testenv.StartArtifactServer(t)
	sums := release(t, srv, testenv.EnrootDebs, "4.1.2")
	root := testenv.DebRoot(t)
	// jq is missing: the dry run must show the apt-get command too.
	status := filepath.Join(root, "var/lib/dpkg/status")
	data, _ := os.ReadFile(status)
	testenv.WriteFile(t, status, []byte(strings.Replace(string(data), "Package: jq\n", "Package: jq-not\n", 1)), 0o644)
	n := newNode(t, root)
	n.writeConfig(t, enrootYAML("4.1.2", srv.URL+"v{version}/", sums, ""))
	out, _ := n.apply(t, "--dry-run")
	_, arch := pkgrepo.Arch()
	for _, want := range []string{
		"would run DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::http::Timeout=30 -o Acquire::Retries=2 -o DPkg::Lock::Timeout=300",
		"-y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install jq",
		"would download " + srv.URL + "v4.1.2/enroot_4.1.2-1_" + arch + ".deb -> " + n.root + "/var/cache/enroot-agent/enroot/enroot_4.1.2-1_" + arch + ".deb",
		"would download " + srv.URL + "v4.1.2/enroot+caps_4.1.2-1_" + arch + ".deb",
		"would run DEBIAN_FRONTEND=noninteractive dpkg --root=" + n.root + " --force-confdef --force-confold -i",
		"would write " + n.root + "/etc/enroot/enroot.conf",
		"would mkdir " + n.root + "/run/enroot (mode 1777)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q", want)
		}
	}
	if srv.Requests("") != 0 || len(n.changingCalls()) != 0 || installedVersion(t, n.root, "enroot") != "none" {
		t.Fatalf("dry run acted: %d requests, calls %q\n%s", srv.Requests(""), n.changingCalls(), out)
	}
	if t.Failed() {
		t.Log(out)
	}
}

// A prerequisite no package declares (pigz is only a Recommends) is
// installed with the packages' dependencies: air-gapped, the packages step
// names it in its one error and installs nothing, the prerequisites step
// waits for it, and enroot.conf is written anyway.
func TestAirGappedPrerequisiteIsAClearError(t *testing.T) {
	root := testenv.DebRoot(t)
	status := filepath.Join(root, "var/lib/dpkg/status")
	data, _ := os.ReadFile(status)
	testenv.WriteFile(t, status, []byte(strings.Replace(string(data), "Package: pigz\n", "Package: pigz-not\n", 1)), 0o644)
	srv := testenv.StartArtifactServer(t)
	sums := release(t, srv, testenv.EnrootDebs, "4.1.2")
	n := newNode(t, root)
	n.writeConfig(t, enrootYAML("4.1.2", srv.URL+"v{version}/", sums, ""))
	out, _ := n.apply(t)
	pre, pkgs := step(out, "enroot-prereqs"), step(out, "enroot-packages")
	if !strings.Contains(pkgs, "failed: nothing was installed: Enroot needs pigz (an Enroot prerequisite), which this node lacks and apt-get could not install") ||
		!strings.Contains(pkgs, "(apt-get install pigz)") || !strings.Contains(out, "no repository reachable (test stub)") {
		t.Fatalf("packages: %s", pkgs)
	}
	if !strings.Contains(pre, "blocked") || installedVersion(t, n.root, "enroot") != "none" {
		t.Fatalf("prerequisites must wait for the packages: %s", pre)
	}
	for _, c := range n.changingCalls() {
		if strings.HasPrefix(c, "dpkg ") {
			t.Fatalf("dpkg ran: %s", c)
		}
	}
	if !strings.Contains(step(out, "enroot-conf"), "changed") {
		t.Fatalf("enroot.conf must be written anyway:\n%s", out)
	}
}

func TestInstallFalseOnlyChecks(t *testing.T) {
	n := newNode(t, testenv.DebRoot(t))
	n.writeConfig(t, "enroot:\n  install: false\n")
	out, _ := n.apply(t)
	if line := step(out, "enroot-packages"); !strings.Contains(line, "failed") || !strings.Contains(line, "enroot.install is false") {
		t.Fatalf("packages: %s", line)
	}
	if strings.Contains(out, "enroot-prereqs") || len(n.changingCalls()) != 0 {
		t.Fatalf("install: false must not install anything: calls %q\n%s", n.changingCalls(), out)
	}
	if _, err := os.Stat(filepath.Join(n.root, "etc/enroot/enroot.conf")); err != nil {
		t.Fatalf("enroot.conf must be written without enroot: %v", err)
	}
}

func TestUnpinnedAndRequired(t *testing.T) {
	srv := testenv.StartArtifactServer(t)
	release(t, srv, testenv.EnrootDebs, "4.1.2")
	n := newNode(t, testenv.DebRoot(t))
	n.writeConfig(t, enrootYAML("4.1.2", srv.URL+"v{version}/", nil, "")+"  require_checksums: true\n")
	out, _ := n.apply(t)
	if line := step(out, "enroot-packages"); !strings.Contains(line, "no sha256 pinned") || installedVersion(t, n.root, "enroot") != "none" {
		t.Fatalf("require_checksums: %s", line)
	}
	// A checksum under a misspelt name pins nothing: installed, unpinned, and said so.
	typo := map[string]string{"enroot-4.1.2.deb": strings.Repeat("a", 64)}
	n.writeConfig(t, enrootYAML("4.1.2", srv.URL+"v{version}/", typo, ""))
	out, errOut := n.apply(t)
	if !strings.Contains(errOut, "enroot.checksums has no entry for this file") {
		t.Fatalf("typo not reported:\n%s", errOut)
	}
	if installedVersion(t, n.root, "enroot") != "4.1.2-1" || !strings.Contains(errOut, "unpinned") {
		t.Fatalf("unpinned install:\n%s\n%s", out, errOut)
	}
	rec, _ := os.ReadFile(filepath.Join(n.root, "var/lib/enroot-agent/enroot-packages.json"))
	if !strings.Contains(string(rec), `"pinned_by": ""`) {
		t.Fatalf("record: %s", rec)
	}
}

func TestGPUNodeGetsContainerToolsWhenARepoHasThem(t *testing.T) {
	root := testenv.DebRoot(t)
	testenv.MkdirAll(t, filepath.Join(root, "proc/driver/nvidia"), 0o755)
	testenv.WriteFile(t, filepath.Join(root, "proc/driver/nvidia/version"), []byte("NVRM version: 550\n"), 0o644)
	n := newNode(t, root)
	n.writeConfig(t, "enroot:\n  install: true\n")

	// No repository offers the tools: a warning, and nothing to install.
	out, errOut := n.apply(t, "--dry-run")
	if !strings.Contains(step(out, "enroot-prereqs"), "done") || !strings.Contains(errOut, "no repository offers libnvidia-container-tools") {
		t.Fatalf("without a repo:\n%s\n%s", out, errOut)
	}
	// The repository has them: they are installed with the prerequisites.
	n.wrap(t, "apt-cache", "echo 'Package: libnvidia-container-tools'; exit 0")
	out, _ = n.apply(t, "--dry-run")
	if line := step(out, "enroot-prereqs"); !strings.Contains(line, "missing: libnvidia-container-tools") ||
		!strings.Contains(out, "install libnvidia-container-tools") {
		t.Fatalf("with a repo:\n%s", out)
	}
}

func TestFileSourceWithSumsFile(t *testing.T) {
	mirror := filepath.Join(t.TempDir(), "v4.1.2")
	testenv.MkdirAll(t, mirror, 0o755)
	var sums strings.Builder
	for name, data := range testenv.EnrootDebs(t, "4.1.2") {
		testenv.WriteFile(t, filepath.Join(mirror, name), data, 0o644)
		sums.WriteString(sum(data) + "  " + name + "\n")
	}
	testenv.WriteFile(t, filepath.Join(mirror, "SHA256SUMS"), []byte(sums.String()), 0o644)
	n := newNode(t, testenv.DebRoot(t))
	n.writeConfig(t, "enroot:\n  version: \"4.1.2\"\n  source: file://"+filepath.Dir(mirror)+"/v{version}/\n  require_checksums: true\n")
	out, errOut := n.apply(t)
	if installedVersion(t, n.root, "enroot+caps") != "4.1.2-1" {
		t.Fatalf("file:// install:\n%s\n%s", out, errOut)
	}
	rec, _ := os.ReadFile(filepath.Join(n.root, "var/lib/enroot-agent/enroot-packages.json"))
	if strings.Count(string(rec), `"pinned_by": "SHA256SUMS"`) != 2 {
		t.Fatalf("record: %s", rec)
	}
}
