package install_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/install"
)

// upstreamDir holds NVIDIA's real Enroot packages (testenv.LoadUpstream:
// ../shared/upstream beside the checkout, or $ENROOT_AGENT_UPSTREAM), each
// checked against its SHA256SUMS line. Without them the test fails: it is
// the one that holds the resolver to the real control files.
func upstreamDir(t *testing.T, files ...string) string {
	t.Helper()
	if len(files) == 0 {
		files = []string{"enroot_4.1.2-1_amd64.deb", "enroot+caps_4.1.2-1_amd64.deb"}
	}
	up, err := testenv.LoadUpstream(files...)
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
// its SHA256SUMS, on an air-gapped sandbox lacking bsdmainutils: the apply
// names it and the package needing it, and dpkg never runs, so enroot is not
// left unpacked as with a bare dpkg -i.
func TestUpstreamDebsAirGappedNamesBsdmainutils(t *testing.T) {
	dir := upstreamDir(t)
	n := newNode(t, testenv.DebRootLacking(t, "bsdmainutils"))
	n.writeConfig(t, "enroot:\n  version: \"4.1.2\"\n  source: file://"+dir+"/\n  require_checksums: true\n")
	out, errOut := n.apply(t)
	line := step(out, "enroot-packages")
	if !strings.Contains(line, "failed: nothing was installed: the enroot packages need bsdmainutils (needed by enroot 4.1.2-1), which this node lacks") {
		t.Fatalf("packages: %s\n%s\n%s", line, out, errOut)
	}
	if got := dpkgStatus(t, n.root, "enroot"); got != "" {
		t.Fatalf("enroot is %q", got)
	}
	for _, c := range n.changingCalls() {
		if strings.HasPrefix(c, "dpkg ") {
			t.Fatalf("dpkg ran: %s", c)
		}
	}
}
