package install

import (
	"context"
	"fmt"
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/version"
	"github.com/enroot-agent/enroot-agent/pkg/artifact"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
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
