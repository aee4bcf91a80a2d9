package install

import (
	"context"
	"fmt"
	"slices"

	"github.com/enroot-agent/enroot-agent/pkg/artifact"
	"go.uber.org/zap"
)

func (s *PackagesStep) request(a Asset) artifact.Request {
	base := artifact.Expand(s.Cfg.Source, s.Cfg.Version)
	return artifact.Request{
		URL: artifact.Join(base, a.File), Name: a.File,
		SHA256: s.Cfg.Checksums[a.File], RequirePinned: s.Cfg.RequireChecksums,
	}
}

// install downloads and verifies every file first, so a bad download
// installs nothing and leaves the installed enroot as it was; then one
// command installs them all.
func (s *PackagesStep) install(ctx context.Context, st pkgPlan) error {
	var rec Record
	rec.Version = s.Cfg.Version
	s.warnUnmatchedPins(st.assets)
	for _, a := range st.assets {
		res, err := s.Fetcher.Fetch(ctx, s.request(a))
		if err != nil {
			return fmt.Errorf("nothing was installed: %w", err)
		}
		rec.Files = append(rec.Files, FileRecord{Name: a.File, SHA256: res.SHA256, PinnedBy: res.PinnedBy})
	}
	pm, err := s.Node.PackageManager()
	if err != nil {
		return err
	}
	p, _ := s.Node.Platform()
	unmet := func(ctx context.Context) ([]MissingDep, error) {
		deps, err := pm.MissingDeps(ctx, st.files)
		if err != nil {
			return nil, err
		}
		prereqs, err := missingPrereqs(ctx, s.Node, pm)
		return withPrereqs(deps, prereqs), err
	}
	if err := installDeps(ctx, pm, p.Frontend, unmet, s.Node.Log); err != nil {
		return err
	}
	if st.downgrade != "" {
		s.Node.Log.Warn("DOWNGRADING enroot: enroot.version_policy is exact and the node has a newer enroot than enroot.version (set minimum to keep it)",
			zap.String("installed", st.downgrade), zap.String("enroot.version", s.Cfg.Version))
	}
	if err := pm.Run(ctx, st.cmd); err != nil {
		return err
	}
	if err := s.confirm(ctx, pm, st.assets); err != nil {
		return err
	}
	s.Node.Log.Info("enroot installed", zap.String("version", s.Cfg.Version), zap.Strings("unpinned", rec.Unpinned()))
	return WriteRecord(s.Record, rec)
}

// warnUnmatchedPins catches a typo in enroot.checksums: a key that names no
// asset leaves that asset unpinned, which is easy to miss.
func (s *PackagesStep) warnUnmatchedPins(assets []Asset) {
	if len(s.Cfg.Checksums) == 0 {
		return
	}
	for _, a := range assets {
		if _, ok := s.Cfg.Checksums[a.File]; !ok {
			keys := make([]string, 0, len(s.Cfg.Checksums))
			for k := range s.Cfg.Checksums {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			s.Node.Log.Warn("enroot.checksums has no entry for this file; check the names (they must match the release assets exactly)",
				zap.String("file", a.File), zap.Strings("checksums_for", keys))
		}
	}
}

// confirm re-reads the package database: a package manager that exits 0
// without installing must not pass for success.
func (s *PackagesStep) confirm(ctx context.Context, pm PackageManager, assets []Asset) error {
	for _, a := range assets {
		v, err := pm.Version(ctx, a.Package)
		if err != nil {
			return err
		}
		if v != s.Cfg.Version {
			return fmt.Errorf("after installing, the package database reports %s %s, not %s", a.Package, orNone(v), s.Cfg.Version)
		}
	}
	return nil
}
