package pkgrepo

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// nodeDebs is what a Debian 12 node has that Enroot's .deb and the
// prerequisites need, at Debian 12's versions (so "jq (>= 1.5)" holds).
// The sandbox roots record them as installed; the repository stubs install
// them at these versions.
func nodeDebs() map[string]string {
	return map[string]string{"bash": "5.2.15-2+b2", "curl": "7.88.1-10+deb12u5", "mawk": "1.3.4.20200120-3.1", "jq": "1.6-2.1",
		"parallel": "20221122+ds-2", "passwd": "1:4.13+dfsg1-1", "squashfs-tools": "1:4.5.1-1", "zstd": "1.5.4+dfsg2-5",
		"bsdmainutils": "12.1.8", "libcap2-bin": "1:2.66-4", "pigz": "2.6-1",
	}
}

// nodeRPMs is the same for Rocky 9 and Enroot's .rpm Requires.
func nodeRPMs() map[string]string {
	return map[string]string{"bash": "5.1.8", "curl": "7.76.1", "gawk": "5.1.0", "jq": "1.6", "parallel": "20190922", "shadow-utils": "4.9",
		"squashfs-tools": "4.4", "coreutils": "8.32", "grep": "3.6", "findutils": "4.8.0", "gzip": "1.12",
		"glibc-common": "2.34", "sed": "4.8", "tar": "1.34", "util-linux": "2.37.4", "zstd": "1.5.1", "libcap": "2.48", "pigz": "2.5",
	}
}

// MakeRPMRoot makes root a scratch root holding an initialised rpm
// database and the os-release of Rocky 9, with one package providing
// everything Enroot and the prerequisites need; work holds its build.
func MakeRPMRoot(root, work string) error { return MakeRPMRootLacking(root, work) }

// MakeRPMRootLacking is MakeRPMRoot without the named capabilities: a node
// whose repositories must supply them.
func MakeRPMRootLacking(root, work string, lacking ...string) error {
	if err := NeedTool("rpmbuild", "rpm"); err != nil {
		return err
	}
	if err := writeFiles(root, map[string]string{"etc/os-release": OSReleaseRocky9}); err != nil {
		return err
	}
	if err := runTool("rpm", "--root", root, "--initdb"); err != nil {
		return err
	}
	arch, _ := Arch()
	var provides []string
	rpms := nodeRPMs()
	for _, name := range slices.Sorted(maps.Keys(rpms)) {
		if !slices.Contains(lacking, name) {
			provides = append(provides, name+" = "+rpms[name])
		}
	}
	spec := "Name: node-base\nVersion: 1\nRelease: 1\nSummary: prerequisites\nLicense: MIT\nBuildArch: " + arch +
		"\nAutoReqProv: no\nProvides: " + strings.Join(provides, ", ") + "\n\n%description\nbase\n\n%files\n"
	if err := writeFiles(work, map[string]string{"base.spec": spec}); err != nil {
		return err
	}
	if err := runTool("rpmbuild", "-bb", "--define", "_topdir "+work, "--define", "_rpmfilename base.rpm", filepath.Join(work, "base.spec")); err != nil {
		return err
	}
	return runTool("rpm", "--root", root, "-i", filepath.Join(work, "RPMS", "base.rpm"))
}

// MakeDebRoot makes root a scratch root with a dpkg database and the
// os-release of Ubuntu 22.04; nodeDebs are recorded as installed.
func MakeDebRoot(root string) error { return MakeDebRootLacking(root) }

// MakeDebRootLacking is MakeDebRoot without the named packages.
func MakeDebRootLacking(root string, lacking ...string) error {
	var status strings.Builder
	_, arch := Arch()
	debs := nodeDebs()
	for _, p := range slices.Sorted(maps.Keys(debs)) {
		if !slices.Contains(lacking, p) {
			fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nVersion: %s\nArchitecture: %s\nMaintainer: test <test@example.com>\nDescription: fixture\n\n", p, debs[p], arch)
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

// MakeNodeRoot makes root a scratch root that looks like an Ubuntu node
// with the configured default Enroot already installed for real (dpkg
// --root), so that apply can converge it without a network; work gets the
// package build. Tests of other parts use it.
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
