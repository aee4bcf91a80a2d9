package install

import "fmt"

// Asset is one upstream Enroot release file and the package it installs.
type Asset struct {
	Package string // enroot or enroot+caps
	File    string // name exactly as on the release page
}

// Assets lists the release files for a platform, named as NVIDIA publishes
// them: enroot-4.1.2-1.el8.x86_64.rpm, enroot+caps_4.1.2-1_amd64.deb, ...
// caps adds enroot+caps, which gives enroot the capabilities to run without
// setuid helpers; it requires the enroot package of the same version.
func Assets(p Platform, version string, caps bool) []Asset {
	pkgs := []string{"enroot"}
	if caps {
		pkgs = append(pkgs, "enroot+caps")
	}
	assets := make([]Asset, len(pkgs))
	for i, pkg := range pkgs {
		assets[i] = Asset{Package: pkg, File: assetFile(p, pkg, version)}
	}
	return assets
}

func assetFile(p Platform, pkg, version string) string {
	if p.Family == Deb {
		return fmt.Sprintf("%s_%s-1_%s.deb", pkg, version, p.DebArch)
	}
	return fmt.Sprintf("%s-%s-1.el8.%s.rpm", pkg, version, p.Arch)
}
