package pyxis

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
)

// An image may already carry a Pyxis of its own: ParallelCluster 3.11+
// AMIs ship one in /usr/local/lib/slurm with example plugstack files, and
// sites drop their own lines into plugstack.conf.d. Slurm must never load
// two Pyxis plugins, so a line the agent did not write that loads one is
// refused with its file and line, whatever the .so is called.

// isPyxis reports whether a plugstack line's plugin is a Pyxis build:
// spank_pyxis.so, or any .so whose name says pyxis (pyxis.so,
// spank_pyxis-0.20.so).
func isPyxis(path string) bool {
	base := strings.ToLower(filepath.Base(path))
	return base == PluginName || strings.Contains(base, "pyxis") && strings.HasSuffix(base, ".so")
}

// foreignPyxis lists the Pyxis lines outside own among lines.
func foreignPyxis(lines []Line, own string) []string {
	var out []string
	for _, l := range lines {
		if l.Kind != Include && l.File != own && isPyxis(l.Path) {
			out = append(out, fmt.Sprintf("%s: %s", l.Where(), l))
		}
	}
	return out
}

// dormantPyxis lists the Pyxis lines in files that the include the agent is
// about to add would start loading: plugstack.conf.d/*.conf files other
// than its own, which Slurm does not read yet.
func dormantPyxis(root config.Root, plugstack, own string) ([]string, error) {
	matches, err := slurm.Glob(root, IncludePattern(plugstack))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, file := range matches {
		if file == own {
			continue
		}
		s, err := Walk(root, file)
		if err != nil {
			return nil, err
		}
		out = append(out, foreignPyxis(s.Lines, own)...)
	}
	return out, nil
}
