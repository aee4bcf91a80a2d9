package install

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.uber.org/zap"
)

// Enroot's packages declare what they need (the .deb's Depends, the .rpm's
// Requires: bsdmainutils, parallel, jq >= 1.5, ...). `dpkg -i` installs none
// of it: on a node that lacks one it leaves enroot unpacked but unconfigured
// (iU), unusable, and every later apply fails the same way. `rpm -U` refuses
// the whole transaction. So before the package database is touched, the
// agent reads what the downloaded files declare, adds the prerequisites the
// node lacks (prereqs.go: pigz, which the .deb only recommends, and the
// rest), installs all of it with the node's own package manager in one
// command, and only then installs Enroot. An air-gapped node thus learns
// everything it lacks from one error.

// MissingDep is one thing Enroot needs that the node does not have.
type MissingDep struct {
	Need    string // as declared: "jq (>= 1.5)", "gawk | mawk", "jq >= 1.5"
	By      string // the package that declares it ("enroot 4.1.2-1"); "" for a prerequisite
	Install string // the name to ask the repository for: "jq"
}

func (d MissingDep) String() string {
	if d.By == "" {
		return d.Need + " (an Enroot prerequisite)"
	}
	return d.Need + " (needed by " + d.By + ")"
}

// withPrereqs adds the missing prerequisites that no declared dependency
// already names, after them.
func withPrereqs(deps []MissingDep, prereqs []string) []MissingDep {
	out := slices.Clone(deps)
	for _, name := range prereqs {
		if !slices.ContainsFunc(out, func(d MissingDep) bool { return d.Install == name }) {
			out = append(out, MissingDep{Need: name, Install: name})
		}
	}
	return out
}

// DepsError says which dependencies and prerequisites could not be
// installed. Nothing of Enroot was installed when it is returned.
type DepsError struct {
	Missing  []MissingDep
	Frontend string // apt-get, dnf, yum
	Cause    error  // the package manager's failure, if it ran and failed
}

func (e *DepsError) Error() string {
	parts := make([]string, len(e.Missing))
	for i, d := range e.Missing {
		parts[i] = d.String()
	}
	msg := fmt.Sprintf("nothing was installed: Enroot needs %s, which this node lacks and %s could not install; make a package repository (or a mirror) reachable, or bake them into the image (%s install %s)",
		strings.Join(parts, ", "), e.Frontend, e.Frontend, strings.Join(installNames(e.Missing), " "))
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

func (e *DepsError) Unwrap() error { return e.Cause }

// installNames is what to ask the repository for: one name per missing
// entry (the first alternative, as apt would pick), each once.
func installNames(missing []MissingDep) []string {
	var names []string
	for _, d := range missing {
		if !slices.Contains(names, d.Install) {
			names = append(names, d.Install)
		}
	}
	return names
}

// installDeps makes the packages installable: it installs from the
// repositories, in one command, everything unmet says the node lacks (the
// files' declared dependencies and the missing prerequisites), then asks
// again, so a repository that installed something else (or nothing) is
// caught here, before the Enroot packages are touched.
func installDeps(ctx context.Context, pm PackageManager, frontend string, unmet func(context.Context) ([]MissingDep, error), log *zap.Logger) error {
	missing, err := unmet(ctx)
	if err != nil || len(missing) == 0 {
		return err
	}
	names := installNames(missing)
	log.Info("installing the dependencies the enroot packages declare, and the missing prerequisites, in one command", zap.String("with", frontend), zap.Strings("packages", names))
	var runErr error
	for _, c := range pm.InstallCmds(names) {
		if runErr = pm.Run(ctx, c); runErr != nil {
			break
		}
	}
	still, err := unmet(ctx)
	if err != nil {
		return err
	}
	if len(still) > 0 {
		return &DepsError{Missing: still, Frontend: frontend, Cause: runErr}
	}
	return nil
}
