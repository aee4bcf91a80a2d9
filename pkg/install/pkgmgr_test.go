package install

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"golang.org/x/sys/unix"
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
	// The real host (no --root): the dependencies come from the node's own
	// apt-get, non-interactively and without Recommends (an apt-get update
	// may come first, when the host has no package lists).
	host := NewPackageManager(Platform{Family: Deb, Frontend: "apt-get"}, "/", nil).InstallCmds([]string{"jq", "pigz"})
	if got := host[len(host)-1].String(); got != "DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::http::Timeout=30 -o Acquire::Retries=2 -o DPkg::Lock::Timeout=300 -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install jq pigz" {
		t.Errorf("host apt-get: %s", got)
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

const statusFixture = `Package: enroot
Status: install ok installed
Priority: optional
Version: 4.1.2-1
Description: enroot
 a multi-line description
 Version: 9.9.9-9

Package: enroot+caps
Status: deinstall ok config-files
Version: 4.1.2-1

Package: jq
Status: install ok half-installed
Version: 1.6-2

Package: zstd
Architecture: amd64
Version: 1:1.5.4+dfsg2-5
Status: install ok installed
`

func TestParseDpkgStatus(t *testing.T) {
	got := parseDpkgStatus(statusFixture)
	want := map[string]string{"enroot": "4.1.2", "zstd": "1:1.5.4+dfsg2"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func FuzzParseDpkgStatus(f *testing.F) {
	f.Add(statusFixture)
	f.Add("Package: a\nStatus:\nVersion: -\n\n\n")
	f.Fuzz(func(t *testing.T, s string) { parseDpkgStatus(s) })
}

// The status file answers without a process; a pending dpkg journal
// (updates/) sends the question to dpkg-query, which reads it.
func TestDpkgVersionFromStatusFile(t *testing.T) {
	root := t.TempDir()
	admin := filepath.Join(root, "var/lib/dpkg")
	testenv.MkdirAll(t, filepath.Join(admin, "updates"), 0o755)
	testenv.WriteFile(t, filepath.Join(admin, "status"), []byte(statusFixture), 0o644)
	asked := 0
	run := func(context.Context, Cmd) ([]byte, error) { asked++; return []byte("installed 4.0.0-1\n"), nil }
	pm := NewPackageManager(Platform{Family: Deb, Frontend: "apt-get"}, config.Root(root), run)
	ctx := context.Background()
	if v, err := pm.Version(ctx, "enroot"); v != "4.1.2" || err != nil || asked != 0 {
		t.Fatalf("enroot: %q %v, %d processes", v, err, asked)
	}
	if ok, err := pm.Provided(ctx, "jq"); ok || err != nil || asked != 0 {
		t.Fatalf("half-installed jq: %v %v", ok, err)
	}
	// dpkg replaced the file: the new content is read.
	testenv.WriteFile(t, filepath.Join(admin, "status.new"), []byte("Package: enroot\nStatus: install ok installed\nVersion: 4.2.0-1\n"), 0o644)
	os.Rename(filepath.Join(admin, "status.new"), filepath.Join(admin, "status"))
	if v, _ := pm.Version(ctx, "enroot"); v != "4.2.0" {
		t.Fatalf("after dpkg changed the status file: %q", v)
	}
	testenv.WriteFile(t, filepath.Join(admin, "updates", "0001"), []byte("Package: enroot\n"), 0o644)
	if v, _ := pm.Version(ctx, "enroot"); v != "4.0.0" || asked != 1 {
		t.Fatalf("with a pending journal: %q after %d processes, want dpkg-query's answer", v, asked)
	}
}

// TestDpkgWaitsForTheLock holds dpkg's frontend lock the way apt and
// unattended-upgrades do (an fcntl lock), then releases it: the real dpkg
// first refuses, and Run retries until it gets through.
func TestDpkgWaitsForTheLock(t *testing.T) {
	root := testenv.DebRoot(t)
	dir := t.TempDir()
	var files []string
	for name, data := range testenv.EnrootDebs(t, "4.1.2") {
		files = append(files, filepath.Join(dir, name))
		testenv.WriteFile(t, files[len(files)-1], data, 0o644)
	}
	lock, err := os.OpenFile(filepath.Join(root, "var/lib/dpkg/lock-frontend"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	flk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0}
	if err := unix.FcntlFlock(lock.Fd(), unix.F_SETLK, &flk); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(400*time.Millisecond, func() { lock.Close() })

	pm := NewPackageManager(Platform{Family: Deb, Frontend: "apt-get"}, config.Root(root), nil)
	attempts := 0
	counting := pm.(*dpkg)
	counting.lockRetry = 100 * time.Millisecond
	real := counting.run
	counting.run = func(ctx context.Context, c Cmd) ([]byte, error) { attempts++; return real(ctx, c) }
	if err := pm.Run(context.Background(), pm.InstallFilesCmd(files)); err != nil {
		t.Fatal(err)
	}
	if v, _ := pm.Version(context.Background(), "enroot+caps"); v != "4.1.2" || attempts < 2 {
		t.Fatalf("enroot+caps %q after %d attempts", v, attempts)
	}
}
