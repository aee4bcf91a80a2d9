package install

import (
	"context"
	"fmt"
	"strings"
)

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
