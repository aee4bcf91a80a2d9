package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/fake"
)

// Package is one build of the agent's .deb.
type Package struct {
	Path             string
	Version, Release string // as dpkg shows them: Version-Release
}

// BuildPackage builds the agent's amd64 .deb with `make deb`, exactly as a
// release does, into dir. version and release default to the checkout's
// (packaging/version.sh); a later release of the same code is how the
// upgrade scenario makes version N+1.
func BuildPackage(ctx context.Context, dir, version, release string) (Package, error) {
	root := fake.ModuleRoot()
	args := []string{"--no-print-directory", "deb", "ARCH=x86_64", "DIST=" + dir, "GO=" + fake.GoTool()}
	if version != "" && release != "" {
		// Another build than the checkout's: its binary says so too.
		args = append(args, "VERSION="+version+"-"+release)
	} else {
		out, err := exec.CommandContext(ctx, filepath.Join(root, "packaging/version.sh")).Output()
		f := strings.Fields(string(out))
		if err != nil || len(f) != 2 {
			return Package{}, fmt.Errorf("packaging/version.sh: %v: %q", err, out)
		}
		if version == "" {
			version = f[0]
		}
		if release == "" {
			release = f[1]
		}
	}
	args = append(args, "PKG_VERSION="+version, "PKG_RELEASE="+release)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Package{}, err
	}
	for _, tool := range []string{"make", "dpkg-deb", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			return Package{}, fmt.Errorf("%s is missing: apt-get install make dpkg git (scripts/test-deps.sh)", tool)
		}
	}
	cmd := exec.CommandContext(ctx, "make", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return Package{}, fmt.Errorf("make deb: %v\n%s", err, out)
	}
	p := filepath.Join(dir, "enroot-agent_"+version+"-"+release+"_amd64.deb")
	if _, err := os.Stat(p); err != nil {
		return Package{}, fmt.Errorf("make deb built no %s: %w", p, err)
	}
	return Package{Path: p, Version: version, Release: release}, nil
}

// Full is the package's version as dpkg reports it.
func (p Package) Full() string { return p.Version + "-" + p.Release }

// packageFromPath reads the version from a .deb's name
// (enroot-agent_<version>-<release>_<arch>.deb).
func packageFromPath(path string) Package {
	name := strings.TrimSuffix(filepath.Base(path), ".deb")
	f := strings.Split(name, "_")
	p := Package{Path: path}
	if len(f) == 3 {
		p.Version, p.Release, _ = strings.Cut(f[1], "-")
	}
	return p
}
