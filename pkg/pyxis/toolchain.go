package pyxis

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
)

// distroPackages names, per package manager family, the packages that
// provide the compiler, make and Slurm's spank.h. A slice, not a map: the
// compiler lays it out in the binary, where a map is built by the
// package's init.
var distroPackages = []struct{ fam, what, pkg string }{
	{"apt", "cc", "build-essential"}, {"apt", "make", "build-essential"}, {"apt", "spank.h", "libslurm-dev"},
	{"dnf", "cc", "gcc"}, {"dnf", "make", "make"}, {"dnf", "spank.h", "slurm-devel"},
}

// distroPackage is the package that provides what in family fam, "" for a
// family not in distroPackages.
func distroPackage(fam, what string) string {
	for _, p := range distroPackages {
		if p.fam == fam && p.what == what {
			return p.pkg
		}
	}
	return ""
}

// Family reads os-release's ID and ID_LIKE: "apt" for Debian and Ubuntu,
// "dnf" for the Red Hat family and Amazon Linux, "" when unknown.
func Family(osRelease string) string {
	for _, line := range strings.Split(osRelease, "\n") {
		key, val, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || (key != "ID" && key != "ID_LIKE") {
			continue
		}
		for _, id := range strings.Fields(strings.Trim(val, `"'`)) {
			switch id {
			case "debian", "ubuntu":
				return "apt"
			case "rhel", "fedora", "centos", "amzn", "rocky", "almalinux":
				return "dnf"
			}
		}
	}
	return ""
}

// checkToolchain reports everything missing for a build at once, each with
// the package that provides it on this distribution.
func checkToolchain(root config.Root, sl slurm.Detected, prefix string) error {
	// os-release(5): /etc first, then /usr/lib.
	data, err := os.ReadFile(root.Path("/etc/os-release"))
	if err != nil {
		data, _ = os.ReadFile(root.Path("/usr/lib/os-release"))
	}
	fam := Family(string(data))
	var missing []string
	need := func(what, desc string) {
		if pkg := distroPackage(fam, what); pkg != "" {
			missing = append(missing, fmt.Sprintf("%s (%s install %s)", desc, fam, pkg))
		} else {
			missing = append(missing, fmt.Sprintf("%s (apt: %s; dnf: %s)", desc, distroPackage("apt", what), distroPackage("dnf", what)))
		}
	}
	if _, err := exec.LookPath("cc"); err != nil {
		need("cc", "a C compiler (cc)")
	}
	if _, err := exec.LookPath("make"); err != nil {
		need("make", "make")
	}
	if sl.Include == "" {
		need("spank.h", fmt.Sprintf("Slurm's headers (slurm/spank.h in %s/include or /usr/include) for Slurm %s", prefix, sl.Version))
	}
	if len(missing) > 0 {
		return fmt.Errorf("cannot build Pyxis: missing %s", strings.Join(missing, ", "))
	}
	return nil
}
