package pkgrepo

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Fixture os-release files for the distributions the installer supports.
const (
	OSReleaseUbuntu2204 = "PRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\nID_LIKE=debian\n"
	OSReleaseRocky9     = "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\nPRETTY_NAME=\"Rocky Linux 9.4 (Blue Onyx)\"\n"
)

// The relations NVIDIA's 4.1.2 packages declare (read from the real control
// file and spec; FACTS.md, "Package dependencies"). The fixtures carry them,
// so a test fails when the agent's dependency handling regresses.
const (
	EnrootDebDepends    = "bash (>= 4.2), curl, gawk | mawk, jq (>= 1.5), parallel, passwd, squashfs-tools, zstd, bsdmainutils"
	EnrootDebRecommends = "pigz"
	EnrootDebSuggests   = "libnvidia-container-tools, squashfuse, fuse-overlayfs"
	// EnrootCapsDebDepends takes the version.
	EnrootCapsDebDepends = "enroot (= %s-1), libcap2-bin"
)

// enrootRPMRequires is the spec's Requires of enroot; enroot+caps requires
// "enroot = <v>-<r>" and libcap.
func enrootRPMRequires() []string {
	return []string{"bash >= 4.2", "curl", "gawk", "jq >= 1.5", "parallel", "shadow-utils", "squashfs-tools",
		"coreutils", "grep", "findutils", "gzip", "glibc-common", "sed", "tar", "util-linux", "zstd"}
}

// Arch is this machine's architecture in rpm and deb spelling.
func Arch() (rpmArch, debArch string) {
	if runtime.GOARCH == "arm64" {
		return "aarch64", "arm64"
	}
	return "x86_64", "amd64"
}

// BuildEnrootDebs builds real enroot and enroot+caps .deb files for
// version in dir, named exactly like NVIDIA's release assets, and returns
// name -> path. The enroot package ships /usr/bin/enroot (a script
// answering `enroot version`) and a default /etc/enroot/enroot.conf
// conffile, as upstream does.
func BuildEnrootDebs(dir, version string) (map[string]string, error) {
	if err := NeedTool("dpkg-deb", "dpkg"); err != nil {
		return nil, err
	}
	_, arch := Arch()
	out := map[string]string{}
	for _, pkg := range []string{"enroot", "enroot+caps"} {
		tree := filepath.Join(dir, pkg+"-"+version)
		files := enrootFiles(pkg, version)
		depends := fmt.Sprintf("Depends: "+EnrootCapsDebDepends+"\n", version)
		if pkg == "enroot" {
			depends = "Depends: " + EnrootDebDepends + "\nRecommends: " + EnrootDebRecommends + "\nSuggests: " + EnrootDebSuggests + "\n"
			files["DEBIAN/conffiles"] = "/etc/enroot/enroot.conf\n"
		}
		files["DEBIAN/control"] = fmt.Sprintf("Package: %s\nVersion: %s-1\nArchitecture: %s\nMaintainer: test <test@example.com>\n%sDescription: enroot test fixture\n",
			pkg, version, arch, depends)
		if err := writeFiles(tree, files); err != nil {
			return nil, err
		}
		name := fmt.Sprintf("%s_%s-1_%s.deb", pkg, version, arch)
		out[name] = filepath.Join(dir, name)
		if err := runTool("dpkg-deb", "--root-owner-group", "--build", tree, out[name]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// BuildEnrootRPMs builds real enroot and enroot+caps .rpm files with
// rpmbuild in dir, named like NVIDIA's release assets
// (enroot-4.1.2-1.el8.x86_64.rpm), and returns name -> path.
func BuildEnrootRPMs(dir, version string) (map[string]string, error) {
	if err := NeedTool("rpmbuild", "rpm"); err != nil {
		return nil, err
	}
	arch, _ := Arch()
	out := map[string]string{}
	for _, pkg := range []string{"enroot", "enroot+caps"} {
		top := filepath.Join(dir, pkg)
		spec := filepath.Join(top, "fixture.spec")
		if err := writeFiles(top, map[string]string{"fixture.spec": rpmSpec(pkg, version, arch)}); err != nil {
			return nil, err
		}
		if err := runTool("rpmbuild", "-bb", "--define", "_topdir "+top,
			"--define", "_rpmfilename %{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm", spec); err != nil {
			return nil, err
		}
		name := fmt.Sprintf("%s-%s-1.el8.%s.rpm", pkg, version, arch)
		out[name] = filepath.Join(top, "RPMS", name)
	}
	return out, nil
}

func rpmSpec(pkg, version, arch string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Name: %s\nVersion: %s\nRelease: 1.el8\nSummary: enroot test fixture\nLicense: Apache-2.0\nBuildArch: %s\nAutoReqProv: no\n", pkg, version, arch)
	if pkg == "enroot+caps" {
		fmt.Fprintf(&b, "Requires: enroot = %s-1.el8\nRequires: libcap\n", version)
	} else {
		for _, r := range enrootRPMRequires() {
			fmt.Fprintf(&b, "Requires: %s\n", r)
		}
	}
	b.WriteString("\n%description\nenroot test fixture\n\n%install\n")
	var files []string
	for path, content := range enrootFiles(pkg, version) {
		fmt.Fprintf(&b, "mkdir -p %%{buildroot}%s\ncat > %%{buildroot}/%s <<'FIXTURE'\n%sFIXTURE\nchmod 755 %%{buildroot}/%s\n",
			filepath.Dir("/"+path), path, content, path)
		if strings.HasPrefix(path, "etc/") {
			files = append(files, "%config(noreplace) /"+path)
		} else {
			files = append(files, "/"+path)
		}
	}
	b.WriteString("\n%files\n" + strings.Join(files, "\n") + "\n")
	return b.String()
}

func enrootFiles(pkg, version string) map[string]string {
	if pkg == "enroot+caps" {
		return map[string]string{"usr/libexec/enroot/caps-" + version: "caps\n"}
	}
	return map[string]string{
		"usr/bin/enroot":         fmt.Sprintf("#!/bin/sh\n[ \"$1\" = version ] && echo %s && exit 0\necho \"usage: enroot version\" >&2\nexit 1\n", version),
		"etc/enroot/enroot.conf": "#ENROOT_RUNTIME_PATH ${XDG_RUNTIME_DIR}/enroot\n#ENROOT_CACHE_PATH ${XDG_CACHE_HOME}/enroot\n",
		// The optional Slurm hooks, where NVIDIA's packages put them; the
		// agent copies the ones enroot.hooks turns on into /etc/enroot/hooks.d.
		"usr/share/enroot/hooks.d/50-slurm-pmi.sh":     FixtureHook("50-slurm-pmi.sh"),
		"usr/share/enroot/hooks.d/50-slurm-pytorch.sh": FixtureHook("50-slurm-pytorch.sh"),
	}
}

// FixtureHook is the fixture packages' stand-in for one of Enroot's optional
// hooks: a script that does nothing, named in its text.
func FixtureHook(name string) string {
	return "#! /usr/bin/env bash\n# enroot test fixture: stands in for Enroot's " + name + "\nexit 0\n"
}

// NeedTool says which Debian package to install when tool is missing: a
// fixture that cannot be built fails its test, never skips it.
func NeedTool(tool, pkg string) error {
	if _, err := exec.LookPath(tool); err != nil {
		return fmt.Errorf("%s not found: install the Debian package %s (scripts/test-deps.sh)", tool, pkg)
	}
	return nil
}

// writeFiles writes files (path under dir -> content); paths under a bin/
// directory are executable.
func writeFiles(dir string, files map[string]string) error {
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.Contains(name, "bin/") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			return err
		}
	}
	return nil
}

// runTool runs a fixture-building command; its output is in the error.
func runTool(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}
