package testenv

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// NodeDebs is what a Debian 12 node has that Enroot's .deb and the
// prerequisites need, at Debian 12's versions (so "jq (>= 1.5)" holds).
// The sandbox roots record them as installed; the repository stubs install
// them at these versions.
var NodeDebs = map[string]string{
	"bash": "5.2.15-2+b2", "curl": "7.88.1-10+deb12u5", "mawk": "1.3.4.20200120-3.1", "jq": "1.6-2.1",
	"parallel": "20221122+ds-2", "passwd": "1:4.13+dfsg1-1", "squashfs-tools": "1:4.5.1-1", "zstd": "1.5.4+dfsg2-5",
	"bsdmainutils": "12.1.8", "libcap2-bin": "1:2.66-4", "pigz": "2.6-1",
}

// NodeRPMs is the same for Rocky 9 and Enroot's .rpm Requires.
var NodeRPMs = map[string]string{
	"bash": "5.1.8", "curl": "7.76.1", "gawk": "5.1.0", "jq": "1.6", "parallel": "20190922", "shadow-utils": "4.9",
	"squashfs-tools": "4.4", "coreutils": "8.32", "grep": "3.6", "findutils": "4.8.0", "gzip": "1.12",
	"glibc-common": "2.34", "sed": "4.8", "tar": "1.34", "util-linux": "2.37.4", "zstd": "1.5.1", "libcap": "2.48", "pigz": "2.5",
}

// RPMRoot returns a scratch root holding an initialised rpm database and the
// os-release of Rocky 9, with one package providing everything Enroot and
// the prerequisites need.
func RPMRoot(t testing.TB) string { return RPMRootLacking(t) }

// RPMRootLacking is RPMRoot without the named capabilities: a node whose
// repositories must supply them.
func RPMRootLacking(t testing.TB, lacking ...string) string {
	t.Helper()
	needTool(t, "rpmbuild", "rpm")
	root := t.TempDir()
	writeTree(t, root, map[string]string{"etc/os-release": OSReleaseRocky9})
	mustRun(t, "rpm", "--root", root, "--initdb")
	arch, _ := Arch()
	var provides []string
	for _, name := range slices.Sorted(maps.Keys(NodeRPMs)) {
		if !slices.Contains(lacking, name) {
			provides = append(provides, name+" = "+NodeRPMs[name])
		}
	}
	top := t.TempDir()
	spec := "Name: node-base\nVersion: 1\nRelease: 1\nSummary: prerequisites\nLicense: MIT\nBuildArch: " + arch +
		"\nAutoReqProv: no\nProvides: " + strings.Join(provides, ", ") + "\n\n%description\nbase\n\n%files\n"
	writeTree(t, top, map[string]string{"base.spec": spec})
	mustRun(t, "rpmbuild", "-bb", "--define", "_topdir "+top, "--define", "_rpmfilename base.rpm", filepath.Join(top, "base.spec"))
	mustRun(t, "rpm", "--root", root, "-i", filepath.Join(top, "RPMS", "base.rpm"))
	return root
}

// DebRoot returns a scratch root with a dpkg database and the os-release of
// Ubuntu 22.04; NodeDebs are recorded as installed.
func DebRoot(t testing.TB) string { return DebRootLacking(t) }

// DebRootLacking is DebRoot without the named packages.
func DebRootLacking(t testing.TB, lacking ...string) string {
	t.Helper()
	root := t.TempDir()
	if err := MakeDebRootLacking(root, lacking...); err != nil {
		t.Fatal(err)
	}
	return root
}

// MakeDebRoot is DebRoot outside a test, in a directory of the caller's.
func MakeDebRoot(root string) error { return MakeDebRootLacking(root) }

// MakeDebRootLacking is DebRootLacking outside a test.
func MakeDebRootLacking(root string, lacking ...string) error {
	var status strings.Builder
	_, arch := Arch()
	for _, p := range slices.Sorted(maps.Keys(NodeDebs)) {
		if !slices.Contains(lacking, p) {
			fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nVersion: %s\nArchitecture: %s\nMaintainer: test <test@example.com>\nDescription: fixture\n\n", p, NodeDebs[p], arch)
		}
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
