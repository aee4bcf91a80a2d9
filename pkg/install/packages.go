package install

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/enroot-agent/enroot-agent/pkg/artifact"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"go.uber.org/zap"
)

// PackagesStep keeps the upstream Enroot packages at the configured version.
// The installed version is read from the package database, so a converged
// node costs two queries: no download and no install command.
type PackagesStep struct {
	Node    *Node
	Cfg     config.Enroot
	Fetcher *artifact.Fetcher
	// Record is where the fetched files' digests are kept for verify.
	Record string

	keptLogged bool
}

func (s *PackagesStep) Name() string       { return "enroot-packages" }
func (s *PackagesStep) Requires() []string { return []string{"enroot-prereqs"} }

// pkgPlan is what Apply needs from Plan.
type pkgPlan struct {
	assets []Asset
	files  []string
	cmd    Cmd
	// downgrade is the installed version enroot.version_policy: exact
	// moves down from ("" when none).
	downgrade string
}

func (s *PackagesStep) Plan(ctx context.Context) (*converge.Plan, error) {
	p, err := s.Node.Platform()
	if err != nil {
		return nil, err
	}
	pm := NewPackageManager(p, s.Node.Root, s.Node.Run)
	assets, found, broken, err := s.stale(ctx, p, pm)
	if err != nil || len(assets) == 0 {
		return &converge.Plan{}, err
	}
	reason := direction(found[0], s.Cfg.Version) + "; installed: " + strings.Join(found, ", ")
	if len(broken) > 0 {
		reason = "repair " + joinBroken(broken) + "; " + reason
	}
	if !s.Cfg.Install {
		return &converge.Plan{Reason: reason, Changes: []converge.Change{{Action: "refuse",
			Target: "installing enroot (enroot.install is false)"}}}, nil
	}
	plan := &converge.Plan{Reason: reason}
	files := make([]string, len(assets))
	for i, a := range assets {
		req := s.request(a)
		files[i] = s.Fetcher.CachePath(req)
		plan.Changes = append(plan.Changes, converge.Change{Action: "download", Target: artifact.Redact(req.URL) + " -> " + files[i]})
	}
	plan.Changes = append(plan.Changes, converge.Change{Action: "install",
		Target: "what the downloaded packages declare (Depends, Requires) and the node lacks, with " + p.Frontend + ", before touching enroot"})
	cmd := pm.InstallFilesCmd(files)
	plan.Changes = append(plan.Changes, converge.Change{Action: "run", Target: cmd.String()})
	st := pkgPlan{assets: assets, files: files, cmd: cmd}
	if have := strings.TrimPrefix(found[0], "enroot "); have != "none" && compareVersions(have, s.Cfg.Version) > 0 {
		st.downgrade = have
	}
	plan.State = st
	return plan, nil
}

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

// direction says what moving the enroot package (found is "enroot <v>")
// to want amounts to, for the plan's reason.
func direction(found, want string) string {
	have := strings.TrimPrefix(found, "enroot ")
	switch c := compareVersions(have, want); {
	case have == "none":
		return "install enroot " + want
	case c < 0:
		return "upgrade enroot " + have + " to " + want
	case c > 0:
		return "downgrade enroot " + have + " to " + want
	}
	return "reinstall enroot " + want + " (enroot+caps differs)"
}

// compareVersions orders dotted numeric versions; non-numbers compare as 0.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

func orNone(v string) string {
	if v == "" {
		return "none"
	}
	return v
}

func (s *PackagesStep) request(a Asset) artifact.Request {
	base := artifact.Expand(s.Cfg.Source, s.Cfg.Version)
	return artifact.Request{
		URL: artifact.Join(base, a.File), Name: a.File,
		SHA256: s.Cfg.Checksums[a.File], RequirePinned: s.Cfg.RequireChecksums,
	}
}

// Apply downloads and verifies every file first, so a bad download installs
// nothing and leaves the installed enroot as it was; then one command
// installs them all.
func (s *PackagesStep) Apply(ctx context.Context, plan *converge.Plan) error {
	st, ok := plan.State.(pkgPlan)
	if !ok {
		return fmt.Errorf("enroot %s is not installed at that version and enroot.install is false: install it by other means (image, another tool) or set enroot.install: true", s.Cfg.Version)
	}
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
	if err := installDeps(ctx, pm, p.Frontend, st.files, s.Node.Log); err != nil {
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
