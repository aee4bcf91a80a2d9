package install

import (
	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// ParallelCluster AMIs from 3.11 on ship Enroot: 3.4.1 (which cannot
// authenticate to ECR) on some, newer ones on later images. The agent must
// upgrade the first and must not quietly downgrade the second, so the
// config chooses: with enroot.version_policy "minimum" (the default) an
// installed Enroot at or above enroot.version is kept; with "exact" exactly
// enroot.version is installed, and a downgrade is logged as a warning.

// VersionAccepted reports whether an installed enroot version (upstream,
// "4.1.2") is what e asks for. Validation keeps enroot.version at 3.5.0 or
// above, so an accepted version can always authenticate to ECR.
func VersionAccepted(e config.Enroot, installed string) bool {
	if installed == "" {
		return false
	}
	if e.VersionPolicy == "exact" {
		return installed == e.Version
	}
	return compareVersions(installed, e.Version) >= 0
}

// pairAccepted reports whether the installed packages (package -> upstream
// version, "" when absent) can stay: every wanted package is present, all
// at one version (enroot+caps depends on exactly its enroot), and that
// version is accepted.
func pairAccepted(e config.Enroot, assets []Asset, installed map[string]string) bool {
	first := installed[assets[0].Package]
	for _, a := range assets {
		if installed[a.Package] != first {
			return false
		}
	}
	return VersionAccepted(e, first)
}
