package install_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/install"
)

// upstreamDir holds NVIDIA's real Enroot packages (pkgrepo.LoadUpstream:
// ../shared/upstream beside the checkout, or $ENROOT_AGENT_UPSTREAM), each
// checked against its SHA256SUMS line. Without them the test fails: it is
// the one that holds the resolver to the real control files.
func upstreamDir(t *testing.T, files ...string) string {
	t.Helper()
	if len(files) == 0 {
		files = []string{"enroot_4.1.2-1_amd64.deb", "enroot+caps_4.1.2-1_amd64.deb"}
	}
	up, err := pkgrepo.LoadUpstream(files...)
	if err != nil {
		t.Fatalf("the real Enroot 4.1.2 packages are needed: %v", err)
	}
	return up.Dir
}

// (e) The real 4.1.2 .debs: on a root whose dpkg database is empty, the
// dependency plan is exactly what NVIDIA's control files declare (enroot+caps'
// "enroot (= 4.1.2-1)" is satisfied by the enroot installed with it); on a
// root lacking only bsdmainutils, exactly bsdmainutils. Only files are read:
// neither the host nor the sandbox changes.
func TestUpstreamDebDependencyPlan(t *testing.T) {
	dir := upstreamDir(t)
	files := []string{filepath.Join(dir, "enroot_4.1.2-1_amd64.deb"), filepath.Join(dir, "enroot+caps_4.1.2-1_amd64.deb")}
	deb := install.Platform{Family: install.Deb, Frontend: "apt-get", Arch: "x86_64", DebArch: "amd64"}
	empty := t.TempDir()
	os.MkdirAll(filepath.Join(empty, "var/lib/dpkg/updates"), 0o755)
	os.WriteFile(filepath.Join(empty, "var/lib/dpkg/status"), nil, 0o644)
	cases := []struct {
		root string
		want []string
	}{
		{empty, []string{
			"bash (>= 4.2) (needed by enroot 4.1.2-1)", "curl (needed by enroot 4.1.2-1)", "gawk | mawk (needed by enroot 4.1.2-1)",
			"jq (>= 1.5) (needed by enroot 4.1.2-1)", "parallel (needed by enroot 4.1.2-1)", "passwd (needed by enroot 4.1.2-1)",
			"squashfs-tools (needed by enroot 4.1.2-1)", "zstd (needed by enroot 4.1.2-1)", "bsdmainutils (needed by enroot 4.1.2-1)",
			"libcap2-bin (needed by enroot+caps 4.1.2-1)",
		}},
		{testenv.DebRootLacking(t, "bsdmainutils"), []string{"bsdmainutils (needed by enroot 4.1.2-1)"}},
	}
	for _, c := range cases {
		before := testenv.Snapshot(t, c.root)
		missing, err := install.NewPackageManager(deb, config.Root(c.root), nil).MissingDeps(context.Background(), files)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range missing {
			got = append(got, m.String())
		}
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
		if changed := testenv.Changed(before, testenv.Snapshot(t, c.root)); len(changed) != 0 {
			t.Errorf("resolving changed %v", changed)
		}
	}
}

// The real packages through the real binary, from a file:// mirror pinned by
// its SHA256SUMS, on an air-gapped sandbox (the real apt-get, no sources)
// lacking jq and parallel (prerequisites that the .deb's Depends name too),
// pigz (a prerequisite the .deb only recommends) and bsdmainutils (only its
// Depends): one error names all four, each with what needs it, and nothing
// is installed: apt-get is asked once, dpkg never runs, so enroot is not
// left unpacked as with a bare dpkg -i.
func TestUpstreamDebsAirGappedNamesEverythingAtOnce(t *testing.T) {
	dir := upstreamDir(t)
	n := newNode(t, testenv.DebRootLacking(t, "jq", "parallel", "pigz", "bsdmainutils"))
	n.realApt(t)
	n.writeConfig(t, "enroot:\n  version: \"4.1.2\"\n  source: file://"+dir+"/\n  require_checksums: true\n")
	out, errOut := n.apply(t)
	want := "failed: nothing was installed: Enroot needs jq (>= 1.5) (needed by enroot 4.1.2-1), parallel (needed by enroot 4.1.2-1), " +
		"bsdmainutils (needed by enroot 4.1.2-1), pigz (an Enroot prerequisite), which this node lacks and apt-get could not install; " +
		"make a package repository (or a mirror) reachable, or bake them into the image (apt-get install jq parallel bsdmainutils pigz)"
	if line := step(out, "enroot-packages"); !strings.Contains(line, want) || !strings.Contains(out, "Unable to locate package bsdmainutils") {
		t.Fatalf("packages: %s\nwant %s\n%s\n%s", line, want, out, errOut)
	}
	if line := step(out, "enroot-prereqs"); !strings.Contains(line, "blocked") {
		t.Fatalf("prerequisites: %s", line)
	}
	if got := dpkgStatus(t, n.root, "enroot"); got != "" {
		t.Fatalf("enroot is %q", got)
	}
	installs := 0
	for _, c := range n.changingCalls() {
		if strings.HasPrefix(c, "dpkg ") {
			t.Fatalf("dpkg ran: %s", c)
		}
		if strings.Contains(c, " install ") {
			installs++
		}
	}
	if installs != 1 {
		t.Fatalf("apt-get install ran %d times, want once:\n%s", installs, strings.Join(n.changingCalls(), "\n"))
	}
}

// The same with NVIDIA's el8 rpms in an rpm root (the real rpm resolves
// their Requires; dnf cannot reach a repository): jq, parallel and gawk
// from the rpm's Requires, pigz as a prerequisite, all in one error, and
// neither dnf nor rpm installs anything.
func TestUpstreamRPMsAirGappedNamesEverythingAtOnce(t *testing.T) {
	dir := upstreamDir(t, "enroot-4.1.2-1.el8.x86_64.rpm", "enroot+caps-4.1.2-1.el8.x86_64.rpm")
	if arch, _ := pkgrepo.Arch(); arch != "x86_64" {
		t.Fatalf("the upstream directory holds x86_64 rpms; this machine is %s", arch)
	}
	n := newNode(t, testenv.RPMRootLacking(t, "jq", "parallel", "pigz", "gawk"))
	n.writeConfig(t, "enroot:\n  version: \"4.1.2\"\n  source: file://"+dir+"/\n  require_checksums: true\n")
	out, errOut := n.apply(t)
	line := step(out, "enroot-packages")
	for _, want := range []string{"failed: nothing was installed: Enroot needs ",
		"gawk (needed by enroot-4.1.2-1.el8.x86_64)", "jq >= 1.5 (needed by enroot-4.1.2-1.el8.x86_64)",
		"parallel (needed by enroot-4.1.2-1.el8.x86_64)", "pigz (an Enroot prerequisite)", "dnf could not install"} {
		if !strings.Contains(line, want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if t.Failed() || !strings.Contains(step(out, "enroot-prereqs"), "blocked") {
		t.Fatalf("packages: %s\n%s\n%s", line, out, errOut)
	}
	for _, c := range n.changingCalls() {
		if strings.HasPrefix(c, "rpm ") {
			t.Fatalf("rpm installed something: %s", c)
		}
	}
	if rpmVersion(t, n.root, "enroot") != "none" {
		t.Fatal("enroot is installed")
	}
}
