package install

import (
	"context"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"strings"
	"testing"
)

func TestRepoCommands(t *testing.T) {
	cases := []struct {
		p    Platform
		root string
		want []string
	}{
		{Platform{Family: RPM, Frontend: "dnf"}, "/", []string{"dnf -y --setopt=timeout=30 --setopt=retries=2 install jq pigz"}},
		{Platform{Family: RPM, Frontend: "yum"}, "/img", []string{"yum --installroot /img -y --setopt=timeout=30 --setopt=retries=2 install jq pigz"}},
		{Platform{Family: Deb, Frontend: "apt-get"}, "/img", []string{
			"DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::http::Timeout=30 -o Acquire::Retries=2 -o DPkg::Lock::Timeout=300 -o Dir=/img -o DPkg::Chroot-Directory=/img -q update",
			"DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::http::Timeout=30 -o Acquire::Retries=2 -o DPkg::Lock::Timeout=300 -o Dir=/img -o DPkg::Chroot-Directory=/img -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install jq pigz",
		}},
	}
	for _, c := range cases {
		var got []string
		for _, cmd := range NewPackageManager(c.p, config.Root(c.root), nil).InstallCmds([]string{"jq", "pigz"}) {
			got = append(got, cmd.String())
		}
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s under %s:\n got %q\nwant %q", c.p.Frontend, c.root, got, c.want)
		}
	}
	files := NewPackageManager(Platform{Family: RPM, Frontend: "dnf"}, "", nil).InstallFilesCmd([]string{"/c/a.rpm", "/c/b.rpm"})
	if files.String() != "rpm -U --oldpackage --replacepkgs /c/a.rpm /c/b.rpm" {
		t.Fatal(files)
	}
}

// A runner that fails like a missing tool must surface as an error, not as
// "not installed": the agent would then reinstall on every run.
func TestQueryErrorsAreErrors(t *testing.T) {
	broken := func(context.Context, Cmd) ([]byte, error) { return nil, errNoTool }
	for _, p := range []Platform{{Family: RPM, Frontend: "dnf"}, {Family: Deb, Frontend: "apt-get"}} {
		// An empty root: no dpkg status file to answer from, so the tool is asked.
		if _, err := NewPackageManager(p, config.Root(t.TempDir()), broken).Version(context.Background(), "enroot"); err == nil {
			t.Errorf("%s: no error", p.Family)
		}
	}
}

var errNoTool = &toolError{}

type toolError struct{}

func (*toolError) Error() string { return "exec: \"rpm\": executable file not found in $PATH" }
