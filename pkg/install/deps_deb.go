package install

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

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
