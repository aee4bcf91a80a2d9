package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/internal/version"
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

	// keptLogged: the step lives as long as its config (pkg/node), and
	// the daemon's checks plan it while a converge may too.
	keptLogged atomic.Bool
}

func (s *PackagesStep) Name() string { return StepPackages }

// pkgPlan is what install needs from Plan.
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
		return converge.NewPlan(reason, []converge.Change{{Action: "refuse", Target: "installing enroot (enroot.install is false)"}},
			func(context.Context) error {
				return fmt.Errorf("enroot %s is not installed at that version and enroot.install is false: install it by other means (image, another tool) or set enroot.install: true", s.Cfg.Version)
			}), nil
	}
	var changes []converge.Change
	files := make([]string, len(assets))
	for i, a := range assets {
		req := s.request(a)
		files[i] = s.Fetcher.CachePath(req)
		changes = append(changes, converge.Change{Action: "download", Target: artifact.Redact(req.URL) + " -> " + files[i]})
	}
	prereqs, err := missingPrereqs(ctx, s.Node, pm)
	if err != nil {
		return nil, err
	}
	changes = append(changes, converge.Change{Action: "install",
		Target: "what the downloaded packages declare (Depends, Requires) and the node lacks" + andPrereqs(prereqs) + ", with one " + p.Frontend + " command, before touching enroot"})
	cmd := pm.InstallFilesCmd(files)
	changes = append(changes, converge.Change{Action: "run", Target: cmd.String()})
	st := pkgPlan{assets: assets, files: files, cmd: cmd}
	if have := strings.TrimPrefix(found[0], "enroot "); have != "none" && version.Compare(have, s.Cfg.Version) > 0 {
		st.downgrade = have
	}
	return converge.NewPlan(reason, changes, func(ctx context.Context) error { return s.install(ctx, st) }), nil
}

// andPrereqs names the prerequisites the install brings too.
func andPrereqs(missing []string) string {
	if len(missing) == 0 {
		return ""
	}
	return ", and the missing prerequisites (" + strings.Join(missing, ", ") + ")"
}

// direction says what moving the enroot package (found is "enroot <v>")
// to want amounts to, for the plan's reason.
func direction(found, want string) string {
	have := strings.TrimPrefix(found, "enroot ")
	switch c := version.Compare(have, want); {
	case have == "none":
		return "install enroot " + want
	case c < 0:
		return "upgrade enroot " + have + " to " + want
	case c > 0:
		return "downgrade enroot " + have + " to " + want
	}
	return "reinstall enroot " + want + " (enroot+caps differs)"
}

func orNone(v string) string {
	if v == "" {
		return "none"
	}
	return v
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
	if have == s.Cfg.Version || !s.keptLogged.CompareAndSwap(false, true) {
		return
	}
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
	return version.Compare(installed, e.Version) >= 0
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

// RecordFile is the name of the install record in the state dir.
const RecordFile = "enroot-packages.json"

// Record remembers how the installed Enroot was verified, so `verify` can
// report an unpinned install long after the download.
type Record struct {
	Version string       `json:"version"`
	Files   []FileRecord `json:"files"`
}

// FileRecord is one installed release file.
type FileRecord struct {
	Name     string `json:"name"`
	SHA256   string `json:"sha256"`
	PinnedBy string `json:"pinned_by"` // config, SHA256SUMS, or "" (unpinned)
}

// Unpinned lists the files no digest vouched for.
func (r Record) Unpinned() []string {
	var names []string
	for _, f := range r.Files {
		if f.PinnedBy == "" {
			names = append(names, f.Name)
		}
	}
	return names
}

// WriteRecord stores r at path (root-only, like the state dir).
func WriteRecord(path string, r Record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = atomicfile.Write(path, append(data, '\n'), atomicfile.Options{Mode: 0o600, UID: -1, GID: -1})
	return err
}

// ReadRecord loads the record; ok is false when there is none yet.
func ReadRecord(path string) (Record, bool, error) {
	var r Record
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, false, fmt.Errorf("%s: %w", path, err)
	}
	return r, true, nil
}
