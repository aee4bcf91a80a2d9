package realchain

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// undo purges Enroot and every package that appeared since the record,
// removes the paths that were absent, deletes the users and the work dirs,
// and puts the sysctls back.
func (g *Guard) undo() error {
	var errs []error
	for _, u := range g.Users {
		if err := exec.Command("id", "-u", u).Run(); err == nil {
			if out, err := exec.Command("userdel", "-r", "-f", u).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("userdel %s: %v: %s", u, err, out))
			}
		}
	}
	errs = append(errs, g.purgeNew())
	for _, p := range g.Absent {
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	for _, d := range g.Dirs {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	for p, v := range g.Sysctls {
		if now, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(now)) != v {
			errs = append(errs, os.WriteFile(p, []byte(v+"\n"), 0o644))
		}
	}
	return errors.Join(errs...)
}

// purgeNew purges, in one dpkg run (dpkg orders removals within it), the
// packages present now that were not before: Enroot and what it pulled in.
func (g *Guard) purgeNew() error {
	now, err := dpkgPresent()
	if err != nil {
		return err
	}
	before := map[string]bool{}
	for _, p := range g.Packages {
		before[p] = true
	}
	var added []string
	for p := range now {
		if !before[p] {
			added = append(added, p)
		}
	}
	if len(added) == 0 {
		return nil
	}
	cmd := exec.Command("dpkg", append([]string{"--purge"}, added...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("dpkg --purge %s: %v\n%s", strings.Join(added, " "), err, out)
	}
	return nil
}

// dpkgPresent is every package dpkg knows in any state but not-installed
// (a config-files package still has files to purge).
func dpkgPresent() (map[string]bool, error) {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Package}\t${db:Status-Status}\n").Output()
	if err != nil {
		return nil, fmt.Errorf("dpkg-query: %w", err)
	}
	present := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		name, status, ok := strings.Cut(line, "\t")
		if ok && status != "not-installed" {
			present[name] = true
		}
	}
	return present, nil
}
