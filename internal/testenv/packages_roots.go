package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// RPMRoot returns a scratch root holding an initialised rpm database and the
// os-release of Rocky 9, with one package providing every prerequisite.
func RPMRoot(t testing.TB) string {
	t.Helper()
	needTool(t, "rpmbuild", "rpm")
	root := t.TempDir()
	writeTree(t, root, map[string]string{"etc/os-release": OSReleaseRocky9})
	mustRun(t, "rpm", "--root", root, "--initdb")
	arch, _ := Arch()
	top := t.TempDir()
	spec := "Name: node-base\nVersion: 1\nRelease: 1\nSummary: prerequisites\nLicense: MIT\nBuildArch: " + arch +
		"\nAutoReqProv: no\nProvides: " + strings.Join(Prerequisites, " ") + "\n\n%description\nbase\n\n%files\n"
	writeTree(t, top, map[string]string{"base.spec": spec})
	mustRun(t, "rpmbuild", "-bb", "--define", "_topdir "+top, "--define", "_rpmfilename base.rpm", filepath.Join(top, "base.spec"))
	mustRun(t, "rpm", "--root", root, "-i", filepath.Join(top, "RPMS", "base.rpm"))
	return root
}

// DebRoot returns a scratch root with a dpkg database and the os-release of
// Ubuntu 22.04; the prerequisites are recorded as installed.
func DebRoot(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	if err := MakeDebRoot(root); err != nil {
		t.Fatal(err)
	}
	return root
}

// MakeDebRoot is DebRoot outside a test, in a directory of the caller's.
func MakeDebRoot(root string) error {
	var status strings.Builder
	_, arch := Arch()
	for _, p := range Prerequisites {
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nVersion: 1.0-1\nArchitecture: %s\nMaintainer: test <test@example.com>\nDescription: fixture\n\n", p, arch)
	}
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	return writeFiles(root, map[string]string{
		"etc/os-release":         OSReleaseUbuntu2204,
		"var/lib/dpkg/status":    status.String(),
		"var/lib/dpkg/available": "",
	})
}

// NodeRoot is a scratch root that looks like an Ubuntu node with the
// configured default Enroot already installed for real (dpkg --root), so
// that apply can converge it without a network. Tests of other parts use it.
func NodeRoot(t testing.TB) string {
	t.Helper()
	needTool(t, "dpkg-deb", "dpkg")
	root := t.TempDir()
	if err := MakeNodeRoot(root, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	return root
}

// MakeNodeRoot is NodeRoot outside a test: root gets the node, work the
// package build.
func MakeNodeRoot(root, work string) error {
	if err := MakeDebRoot(root); err != nil {
		return err
	}
	debs, err := BuildEnrootDebs(work, config.Default().Enroot.Version)
	if err != nil {
		return err
	}
	args := []string{"--root=" + root, "-i"}
	for _, p := range debs {
		args = append(args, p)
	}
	return runTool("dpkg", args...)
}
