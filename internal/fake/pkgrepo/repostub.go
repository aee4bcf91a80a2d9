package pkgrepo

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Repository stand-ins. A test node has no package repository, but the
// agent installs Enroot's dependencies with apt-get, dnf or yum. These
// stubs take their place on PATH: each logs its call to a calls file (one
// line, "<tool> <args>"), and then, when the file RepoOnline names exists
// in its directory, "installs" each requested package the way a repository
// would, into the --root it was given: a tiny generated package of that
// name, at the version nodeDebs/nodeRPMs give (1.0 otherwise), installed
// with the real dpkg --root or rpm --root, so the sandbox's package
// database really changes. Without that file they fail as on an air-gapped
// node. They refuse to touch the host (no -o Dir= / --installroot).

// RepoOnline is the file that turns the stubs' repository on.
const RepoOnline = "repo-online"

// SetRepoOnline makes the stubs in dir reach (or not reach) a repository.
func SetRepoOnline(dir string, on bool) error {
	p := filepath.Join(dir, RepoOnline)
	if !on {
		err := os.Remove(p)
		if os.IsNotExist(err) {
			err = nil
		}
		return err
	}
	return os.WriteFile(p, nil, 0o644)
}

// WriteRepoStubs writes apt-get, dnf and yum into dir, logging to calls.
func WriteRepoStubs(dir, calls string) error {
	tools := map[string]string{}
	for _, t := range []string{"dpkg", "dpkg-deb", "rpm", "rpmbuild"} {
		p, err := exec.LookPath(t)
		if err != nil {
			return fmt.Errorf("%s not found: install the Debian packages dpkg and rpm (scripts/test-deps.sh)", t)
		}
		tools[t] = p
	}
	head := func(tool string) string {
		return fmt.Sprintf("#!/bin/sh\necho \"%s $*\" | tr '\\n' ' ' >> %s\necho >> %s\n", tool, calls, calls) +
			fmt.Sprintf("if [ ! -e %s/%s ]; then echo 'E: Failed to fetch: no repository reachable (test stub)' >&2; exit 100; fi\n", dir, RepoOnline)
	}
	apt := head("apt-get") + aptStub(tools)
	if err := os.WriteFile(filepath.Join(dir, "apt-get"), []byte(apt), 0o755); err != nil {
		return err
	}
	for _, tool := range []string{"dnf", "yum"} {
		if err := os.WriteFile(filepath.Join(dir, tool), []byte(head(tool)+rpmStub(tools)), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// versionCase is a shell case statement setting $ver for $name.
func versionCase(versions map[string]string, fallback string) string {
	var b strings.Builder
	b.WriteString("case \"$name\" in\n")
	for _, n := range slices.Sorted(maps.Keys(versions)) {
		fmt.Fprintf(&b, "  %s) ver='%s' ;;\n", n, versions[n])
	}
	fmt.Fprintf(&b, "  *) ver='%s' ;;\nesac\n", fallback)
	return b.String()
}

func aptStub(tools map[string]string) string {
	return `root= ; cmd= ; names=
while [ $# -gt 0 ]; do
  case "$1" in
    -o) case "$2" in Dir=*) root=${2#Dir=} ;; esac; shift 2; continue ;;
    -*) ;;
    update) cmd=update ;;
    install) cmd=install ;;
    *) [ "$cmd" = install ] && names="$names $1" ;;
  esac
  shift
done
[ -n "$root" ] || { echo 'test stub: refusing to install on the host (no -o Dir=)' >&2; exit 100; }
if [ "$cmd" = update ]; then
  mkdir -p "$root/var/lib/apt/lists" && : > "$root/var/lib/apt/lists/stub_dists_stable_main_binary_Packages"
  exit 0
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for name in $names; do
` + versionCase(nodeDebs(), "1.0-1") + `  mkdir -p "$work/$name/DEBIAN"
  printf 'Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: stub <stub@example.com>\nDescription: repository stub\n' "$name" "$ver" > "$work/$name/DEBIAN/control"
  ` + tools["dpkg-deb"] + ` --root-owner-group -b "$work/$name" "$work/$name.deb" >/dev/null || exit 100
  echo "Setting up $name ($ver) ..."
  ` + tools["dpkg"] + ` --root="$root" -i "$work/$name.deb" || exit 100
done
`
}

func rpmStub(tools map[string]string) string {
	return `root= ; cmd= ; names=
while [ $# -gt 0 ]; do
  case "$1" in
    --installroot) root=$2; shift 2; continue ;;
    -*) ;;
    install) cmd=install ;;
    *) [ "$cmd" = install ] && names="$names $1" ;;
  esac
  shift
done
[ -n "$cmd" ] || exit 1
[ -n "$root" ] || { echo 'test stub: refusing to install on the host (no --installroot)' >&2; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for name in $names; do
` + versionCase(nodeRPMs(), "1.0") + `  pkg=$(echo "$name" | tr -c 'A-Za-z0-9+._\n-' '_')
  printf 'Name: %s\nVersion: %s\nRelease: 1\nSummary: stub\nLicense: MIT\nBuildArch: noarch\nAutoReqProv: no\nProvides: %s = %s\n\n%%description\nstub\n\n%%files\n' "$pkg" "$ver" "$name" "$ver" > "$work/$pkg.spec"
  ` + tools["rpmbuild"] + ` -bb --define "_topdir $work/top" --define "_rpmfilename $pkg.rpm" "$work/$pkg.spec" >/dev/null 2>&1 || exit 1
  echo "Installing: $name $ver"
  ` + tools["rpm"] + ` --root "$root" -i "$work/top/RPMS/$pkg.rpm" || exit 1
done
`
}
