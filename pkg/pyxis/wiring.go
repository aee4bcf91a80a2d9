package pyxis

import (
	"bytes"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/enroot-agent/enroot-agent/pkg/slurm"
)

// PluginName is the file Pyxis's Makefile builds and the agent installs.
const PluginName = "spank_pyxis.so"

// DropInDir is the drop-in directory beside the main plugstack. The pyxis
// entry lives there in its own file, so the shared main file only ever needs
// one include line and is never rewritten for an argument change.
func DropInDir(plugstack string) string {
	return filepath.Join(filepath.Dir(plugstack), "plugstack.conf.d")
}

// DropInPath is the agent's own plugstack file, plugstack.conf.d/pyxis.conf.
func DropInPath(plugstack string) string { return filepath.Join(DropInDir(plugstack), "pyxis.conf") }

// IncludePattern is the include glob the main plugstack needs. "*.conf"
// cannot match a dot file, so no temp or lock file is ever loaded.
func IncludePattern(plugstack string) string { return filepath.Join(DropInDir(plugstack), "*.conf") }

// Entry is the plugstack line that loads Pyxis from libdir with args, sorted
// by key so every node renders the same bytes.
func Entry(libdir string, args map[string]string) Line {
	l := Line{Kind: Required, Path: filepath.Join(libdir, PluginName)}
	for _, k := range slices.Sorted(maps.Keys(args)) {
		l.Args = append(l.Args, k+"="+args[k])
	}
	return l
}

// ConfContent is the whole content of the agent's pyxis.conf.
func ConfContent(entry Line) []byte {
	return []byte("# Written by enroot-agent; set pyxis.args in its config instead of editing here.\n" +
		"# Every node that shares this directory writes the same bytes.\n" +
		entry.String() + "\n")
}

// AddInclude returns main with one include line for pattern appended; every
// other byte is kept as the administrator wrote it.
func AddInclude(main []byte, pattern string) []byte {
	out := bytes.Clone(main)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, "# Added by enroot-agent: the Pyxis entry lives in "+filepath.Base(filepath.Dir(pattern))+"/pyxis.conf\ninclude "+pattern+"\n"...)
}

// Reaches reports whether one of the stack's include lines matches file, so
// that Slurm reads it as soon as it exists.
func (s *Stack) Reaches(file string) bool {
	for _, l := range s.Includes {
		if slurm.Matches(l.include().Path(), file) {
			return true
		}
	}
	return false
}

// Check says what keeps the stack from loading entry exactly once; "" when
// it does. It is the whole check for a plugstack managed elsewhere.
func (s *Stack) Check(entry Line) string {
	loads := s.Plugins(PluginName)
	switch {
	case len(loads) == 0:
		return fmt.Sprintf("no line loads %s (want %q)", PluginName, entry.String())
	case len(loads) > 1:
		var at []string
		for _, l := range loads {
			at = append(at, l.Where())
		}
		return fmt.Sprintf("%s is loaded %d times (%s); Slurm refuses the duplicate options", PluginName, len(loads), strings.Join(at, ", "))
	case !sameLoad(loads[0], entry):
		return fmt.Sprintf("%s has %q, want %q", loads[0].Where(), loads[0].String(), entry.String())
	}
	return ""
}

// sameLoad compares the plugin and its arguments in any order. Whether the
// line is required or optional is the administrator's choice to make.
func sameLoad(a, b Line) bool {
	return a.Path == b.Path && slices.Equal(slices.Sorted(slices.Values(a.Args)), slices.Sorted(slices.Values(b.Args)))
}
