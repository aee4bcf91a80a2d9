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
// agent reads what the downloaded files declare, installs what the node
// lacks with the node's own package manager, and only then installs Enroot.

// MissingDep is one declared dependency that the node does not satisfy.
type MissingDep struct {
	Need    string // as declared: "jq (>= 1.5)", "gawk | mawk", "jq >= 1.5"
	By      string // the package that declares it: "enroot 4.1.2-1"
	Install string // the name to ask the repository for: "jq"
}

func (d MissingDep) String() string { return d.Need + " (needed by " + d.By + ")" }

// DepsError says which dependencies could not be installed. Nothing of
// Enroot was installed when it is returned.
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
	msg := fmt.Sprintf("nothing was installed: the enroot packages need %s, which this node lacks and %s could not install; make a package repository (or a mirror) reachable, or bake them into the image",
		strings.Join(parts, ", "), e.Frontend)
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

// installDeps makes files installable: it installs from the repositories
// what they declare and the node lacks, then asks again, so a repository
// that installed something else (or nothing) is caught here, before the
// Enroot packages are touched.
func installDeps(ctx context.Context, pm PackageManager, frontend string, files []string, log *zap.Logger) error {
	missing, err := pm.MissingDeps(ctx, files)
	if err != nil || len(missing) == 0 {
		return err
	}
	names := installNames(missing)
	log.Info("installing the dependencies the enroot packages declare", zap.String("with", frontend), zap.Strings("packages", names))
	var runErr error
	for _, c := range pm.InstallCmds(names) {
		if runErr = pm.Run(ctx, c); runErr != nil {
			break
		}
	}
	still, err := pm.MissingDeps(ctx, files)
	if err != nil {
		return err
	}
	if len(still) > 0 {
		return &DepsError{Missing: still, Frontend: frontend, Cause: runErr}
	}
	return nil
}
