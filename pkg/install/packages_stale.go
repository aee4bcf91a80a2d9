package install

import (
	"context"
	"strings"

	"go.uber.org/zap"
)

// stale lists the assets to install (all of them, or none: the pair moves
// in one transaction), what is installed, for the plan's reason, and the
// Enroot packages a failed install left half-done, which are reinstalled.
func (s *PackagesStep) stale(ctx context.Context, p Platform, pm PackageManager) ([]Asset, []string, []BrokenPackage, error) {
	caps := s.Cfg.Flavor == "caps"
	if !caps {
		// A plain node that has enroot+caps must move it along, or the
		// pair's exact-version dependency breaks the upgrade.
		if v, err := pm.Version(ctx, "enroot+caps"); err != nil {
			return nil, nil, nil, err
		} else if v != "" {
			caps = true
		}
	}
	assets := Assets(p, s.Cfg.Version, caps)
	var found []string
	installed := map[string]string{}
	for _, a := range assets {
		v, err := pm.Version(ctx, a.Package)
		if err != nil {
			return nil, nil, nil, err
		}
		installed[a.Package] = v
		found = append(found, a.Package+" "+orNone(v))
	}
	broken, err := brokenPackages(ctx, pm)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(broken) == 0 && pairAccepted(s.Cfg, assets, installed) {
		s.noteKept(installed["enroot"])
		return nil, found, nil, nil
	}
	return assets, found, broken, nil
}

// noteKept logs, once per step, that a newer enroot than configured stays.
func (s *PackagesStep) noteKept(have string) {
	if have == s.Cfg.Version || s.keptLogged {
		return
	}
	s.keptLogged = true
	s.Node.Log.Info("keeping the installed enroot, newer than enroot.version (enroot.version_policy: minimum; set exact to install exactly enroot.version)",
		zap.String("installed", have), zap.String("enroot.version", s.Cfg.Version))
}

func joinBroken(broken []BrokenPackage) string {
	parts := make([]string, len(broken))
	for i, b := range broken {
		parts[i] = b.String()
	}
	return strings.Join(parts, ", ")
}
