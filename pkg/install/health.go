package install

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"go.uber.org/zap"
)

// EnrootPackages are the packages whose state the agent answers for.
var EnrootPackages = []string{"enroot", "enroot+caps"}

// BrokenPackage is an Enroot package that an interrupted or failed install
// left half-done: dpkg's unpacked (iU), half-configured (iF) or
// half-installed (iH) states, a reinstall-required flag, or with rpm two
// versions of one package installed at once (an upgrade transaction that
// never finished). The files may be on disk, so `enroot version` can even
// answer, but the package is not usable as installed.
type BrokenPackage struct {
	Name, Version, State string
}

func (b BrokenPackage) String() string {
	return fmt.Sprintf("%s %s is %s", b.Name, b.Version, b.State)
}

// halfDone are dpkg's states of a package that did not finish installing.
var halfDone = map[string]string{
	"unpacked":        "unpacked but not configured (dpkg iU)",
	"half-configured": "half-configured (dpkg iF)",
	"half-installed":  "half-installed (dpkg iH)",
}

// brokenPackages looks for Enroot packages left half-done under pm.
func brokenPackages(ctx context.Context, pm PackageManager) ([]BrokenPackage, error) {
	switch m := pm.(type) {
	case *dpkg:
		db, err := m.statusDB(ctx)
		if err != nil {
			return nil, err
		}
		return brokenDebs(db), nil
	case *rpm:
		return m.duplicates(ctx)
	}
	return nil, nil
}

func brokenDebs(db []debPkg) []BrokenPackage {
	var out []BrokenPackage
	for _, p := range db {
		if !slices.Contains(EnrootPackages, p.Name) {
			continue
		}
		state, half := halfDone[p.State()]
		if !half && strings.Contains(p.Status, "reinstreq") {
			state, half = "marked reinstall-required by dpkg", true
		}
		if half {
			out = append(out, BrokenPackage{Name: p.Name, Version: p.Version, State: state})
		}
	}
	return out
}

// duplicates finds an Enroot package installed at two versions at once.
func (m *rpm) duplicates(ctx context.Context) ([]BrokenPackage, error) {
	var out []BrokenPackage
	for _, name := range EnrootPackages {
		text, err := m.run(ctx, Cmd{Args: m.rpmArgs("-q", "--qf", "%{VERSION}-%{RELEASE}\\n", name)})
		if err != nil {
			continue // not installed (rpm -q exits 1), or Version reports the error
		}
		if versions := strings.Fields(string(text)); len(versions) > 1 {
			out = append(out, BrokenPackage{Name: name, Version: strings.Join(versions, " and "),
				State: "installed twice (an rpm upgrade transaction did not finish)"})
		}
	}
	return out, nil
}

// PackageProblem is what the enroot verify check reports about the package
// state: problem is "" when no Enroot package is half-done; fix says what
// repairs it. A node whose distribution cannot be told has nothing to say
// here (other checks report that).
func PackageProblem(ctx context.Context, root config.Root) (problem, fix string, err error) {
	n := &Node{Root: root, Log: zap.NewNop()}
	pm, err := n.PackageManager()
	if err != nil {
		return "", "", nil
	}
	broken, err := brokenPackages(ctx, pm)
	if err != nil || len(broken) == 0 {
		return "", "", err
	}
	parts := make([]string, len(broken))
	for i, b := range broken {
		parts[i] = b.String()
	}
	problem = strings.Join(parts, "; ") + ": a package install failed or was interrupted (often a missing dependency), and enroot may not work"
	fix = "run `enroot-agent apply` (it installs the missing dependencies and reinstalls enroot)"
	if _, ok := pm.(*dpkg); ok {
		fix += ", or by hand: apt-get install -f (then dpkg --configure -a)"
	} else {
		fix += ", or by hand: dnf distro-sync enroot (or rpm -e the older version)"
	}
	return problem, fix, nil
}
