package install

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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

// debPkg is one package as dpkg knows it: from a .deb's control file, or a
// stanza of the status database.
type debPkg struct {
	Name, Version string
	// Status is dpkg's "want flag state" ("install ok installed"); empty
	// for a package file.
	Status                      string
	Depends, PreDepends, Provis string
}

// State is the last word of Status: installed, unpacked, half-configured...
func (p debPkg) State() string {
	f := strings.Fields(p.Status)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

// parseDebStanzas reads control-file stanzas (dpkg's status file, or the
// output of dpkg-deb -f). Continuation lines of multi-line fields are
// joined, so a folded Depends still parses.
func parseDebStanzas(data string) []debPkg {
	var out []debPkg
	for _, stanza := range strings.Split(strings.ReplaceAll(data, "\r\n", "\n"), "\n\n") {
		fields := map[string]string{}
		var last string
		for _, line := range strings.Split(stanza, "\n") {
			if (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) && last != "" {
				fields[last] += " " + strings.TrimSpace(line)
				continue
			}
			key, val, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			last = key
			fields[key] = strings.TrimSpace(val)
		}
		if fields["Package"] == "" {
			continue
		}
		out = append(out, debPkg{Name: fields["Package"], Version: fields["Version"], Status: fields["Status"],
			Depends: fields["Depends"], PreDepends: fields["Pre-Depends"], Provis: fields["Provides"]})
	}
	return out
}

// MissingDeps reads each package file's control (dpkg-deb -f), and lists
// every Pre-Depends and Depends entry that neither an installed package
// nor one of the files satisfies.
func (m *dpkg) MissingDeps(ctx context.Context, files []string) ([]MissingDep, error) {
	var batch []debPkg
	for _, f := range files {
		out, err := runCmd(ctx, m.run, Cmd{Args: []string{"dpkg-deb", "-f", f, "Package", "Version", "Pre-Depends", "Depends", "Provides"}})
		if err != nil {
			return nil, fmt.Errorf("reading the control file of %s: %w", filepath.Base(f), err)
		}
		pkgs := parseDebStanzas(string(out))
		if len(pkgs) != 1 {
			return nil, fmt.Errorf("%s has no readable control file", filepath.Base(f))
		}
		batch = append(batch, pkgs[0])
	}
	installed, err := m.statusDB(ctx)
	if err != nil {
		return nil, err
	}
	return missingDebDeps(batch, installed), nil
}

// statusDB is every package dpkg knows under the root. It reads the status
// file, or asks dpkg-query when the journal (updates/) holds changes the
// file does not have yet.
func (m *dpkg) statusDB(ctx context.Context) ([]debPkg, error) {
	admin := filepath.Join(m.root, "/var/lib/dpkg")
	if pending, err := os.ReadDir(filepath.Join(admin, "updates")); err == nil && len(pending) == 0 {
		data, err := os.ReadFile(filepath.Join(admin, "status"))
		if err == nil {
			return parseDebStanzas(string(data)), nil
		}
	}
	format := "Package: ${Package}\nStatus: ${Status}\nVersion: ${Version}\nProvides: ${Provides}\n\n"
	out, err := runCmd(ctx, m.run, Cmd{Args: m.rooted("dpkg-query", "-W", "-f="+format)})
	if err != nil {
		return nil, fmt.Errorf("reading the dpkg database: %w", err)
	}
	return parseDebStanzas(string(out)), nil
}

// missingDebDeps is the pure half of MissingDeps: what batch needs that
// neither installed (only fully installed packages count, as for dpkg's
// configure) nor batch itself provides.
func missingDebDeps(batch, installed []debPkg) []MissingDep {
	var have []debPkg
	for _, p := range installed {
		if p.State() == "installed" {
			have = append(have, p)
		}
	}
	have = append(have, batch...)
	var out []MissingDep
	for _, p := range batch {
		for _, dep := range parseDebDeps(p.PreDepends + "," + p.Depends) {
			if !debSatisfied(dep, have) {
				out = append(out, MissingDep{Need: dep.String(), By: p.Name + " " + p.Version, Install: dep[0].Name})
			}
		}
	}
	return out
}

// debSatisfied: one alternative is a real package at an acceptable version,
// or a virtual one some package provides (a versioned relation needs a
// versioned Provides, as in dpkg).
func debSatisfied(dep debDep, have []debPkg) bool {
	for _, alt := range dep {
		for _, p := range have {
			if p.Name == alt.Name && debRelationHolds(p.Version, alt.Op, alt.Version) {
				return true
			}
			for _, prov := range parseDebDeps(p.Provis) {
				pa := prov[0]
				if pa.Name != alt.Name {
					continue
				}
				if alt.Op == "" || pa.Op == "=" && debRelationHolds(pa.Version, alt.Op, alt.Version) {
					return true
				}
			}
		}
	}
	return false
}

// MissingDeps asks rpm itself: `rpm -U --test` resolves the files' Requires
// (versions, virtual provides, file dependencies, rpmlib features) against
// the database exactly as the real install would, and changes nothing.
func (m *rpm) MissingDeps(ctx context.Context, files []string) ([]MissingDep, error) {
	test := Cmd{Args: append(m.rpmArgs("-U", "--test", "--oldpackage", "--replacepkgs"), files...)}
	out, err := m.run(ctx, test)
	if err == nil {
		return nil, nil
	}
	missing := parseRPMFailedDeps(string(out))
	if len(missing) == 0 {
		return nil, fmt.Errorf("%s: %w\n%s", test, err, tail(out, 15))
	}
	return missing, nil
}

// parseRPMFailedDeps reads rpm's "Failed dependencies:" list, one
// "\t<capability> is needed by <name-version-release.arch>" per line.
func parseRPMFailedDeps(out string) []MissingDep {
	var missing []MissingDep
	for _, line := range strings.Split(out, "\n") {
		need, by, ok := strings.Cut(strings.TrimSpace(line), " is needed by ")
		if !ok || need == "" {
			continue
		}
		name := strings.Fields(need)[0]
		missing = append(missing, MissingDep{Need: need, By: strings.TrimSpace(by), Install: name})
	}
	return missing
}
