package pyxis

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
)

// The plugstack format: Parse reads one file as Slurm's plugstack.c does,
// and Walk follows its includes into the Stack Slurm would load.

// Kind is what a plugstack line asks Slurm to do.
type Kind int

const (
	Required Kind = iota + 1 // load the plugin; srun, sbatch and salloc fail when it cannot load
	Optional                 // load the plugin if it can; only warn otherwise
	Include                  // read every file the glob matches, in order
)

func (k Kind) String() string {
	switch k {
	case Required:
		return "required"
	case Optional:
		return "optional"
	case Include:
		return "include"
	}
	return "invalid"
}

// parseKind reads a line's first field.
func parseKind(s string) (Kind, bool) {
	for _, k := range []Kind{Required, Optional, Include} {
		if k.String() == s {
			return k, true
		}
	}
	return 0, false
}

// Line is one meaningful plugstack line.
type Line struct {
	File string // the file it is in, as a host path
	Num  int    // 1-based line number
	Kind Kind
	Path string   // the plugin (Required, Optional) or the glob (Include)
	Args []string // plugin arguments, as Slurm passes them (argv)
}

func (l Line) String() string {
	return strings.Join(append([]string{l.Kind.String(), l.Path}, l.Args...), " ")
}

// Where is "file:line", the way Slurm's own errors point at a line.
func (l Line) Where() string { return fmt.Sprintf("%s:%d", l.File, l.Num) }

// Invalid is a line Slurm ignores with "spank: <file>:<n>: Invalid line".
type Invalid struct {
	File string
	Num  int
	Text string
	Msg  string
}

func (i Invalid) Error() string {
	return fmt.Sprintf("%s:%d: %s: %q", i.File, i.Num, i.Msg, i.Text)
}

// Parse reads one plugstack file the way Slurm's plugstack.c does: a '#'
// starts a comment anywhere on a line, fields are separated by spaces or tabs,
// the first field is required, optional or include, the second the plugin or
// glob, and the rest are the plugin's arguments. It never fails: lines Slurm
// would ignore come back as Invalid, so a check can name them.
func Parse(file string, data []byte) ([]Line, []Invalid) {
	var lines []Line
	var bad []Invalid
	// Split on '\n' only: Slurm keeps a '\r' as part of the last field,
	// so a CRLF file names a plugin that does not exist, and we must see that.
	for i, text := range strings.Split(string(data), "\n") {
		n := i + 1
		fields := strings.FieldsFunc(slurm.StripComment(text), isSep)
		if len(fields) == 0 {
			continue
		}
		kind, ok := parseKind(fields[0])
		switch {
		case !ok:
			bad = append(bad, Invalid{file, n, text, fmt.Sprintf("%q is not required, optional or include", fields[0])})
		case len(fields) < 2:
			bad = append(bad, Invalid{file, n, text, fields[0] + " names no " + map[bool]string{true: "glob", false: "plugin"}[kind == Include]})
		default:
			l := Line{File: file, Num: n, Kind: kind, Path: fields[1]}
			if len(fields) > 2 {
				l.Args = fields[2:]
			}
			lines = append(lines, l)
		}
	}
	return lines, bad
}

func isSep(r rune) bool { return r == ' ' || r == '\t' }

// Stack is what Slurm would load from a plugstack, includes followed.
type Stack struct {
	Lines    []Line    // required and optional lines, in the order Slurm loads them
	Includes []Line    // include lines, in the order they were read
	Files    []string  // every file read, as host paths, in order
	Invalid  []Invalid // lines Slurm ignores
	Problems []string  // include loops, bad globs
}

// Walk reads the plugstack at path (a host path) and every file its include
// globs match, as Slurm's spank does (slurm.IncludeWalker): a relative glob
// is taken from the including file's directory, glob(3) never matches a dot
// file with '*', and a missing plugstack is an empty one. root maps each
// host path to where it is read.
func Walk(root config.Root, path string) (*Stack, error) {
	s := &Stack{}
	w := slurm.IncludeWalker{Root: root, Missing: slurm.MissingIsEmpty}
	walked, err := w.Walk(path, func(file string, data []byte, include func(slurm.Include)) {
		lines, bad := Parse(file, data)
		s.Invalid = append(s.Invalid, bad...)
		for _, l := range lines {
			if l.Kind != Include {
				s.Lines = append(s.Lines, l)
				continue
			}
			s.Includes = append(s.Includes, l)
			include(l.include())
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read plugstack: %w", err)
	}
	s.Files = walked.Files
	for _, p := range walked.Problems {
		s.Problems = append(s.Problems, p.Error())
	}
	return s, nil
}

// include is an include line as the walker takes it.
func (l Line) include() slurm.Include {
	return slurm.Include{File: l.File, Line: l.Num, Pattern: l.Path}
}

// Plugins returns the required and optional lines that load a plugin with
// the given file name (for example spank_pyxis.so), wherever it lives.
func (s *Stack) Plugins(base string) []Line {
	var out []Line
	for _, l := range s.Lines {
		if filepath.Base(l.Path) == base {
			out = append(out, l)
		}
	}
	return out
}
