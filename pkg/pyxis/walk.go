package pyxis

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
)

// Stack is what Slurm would load from a plugstack, includes followed.
type Stack struct {
	Lines    []Line    // required and optional lines, in the order Slurm loads them
	Includes []Line    // include lines, in the order they were read
	Files    []string  // every file read, as host paths, in order
	Invalid  []Invalid // lines Slurm ignores
	Problems []string  // include loops, bad globs
}

// Walk reads the plugstack at path (a host path) and every file its include
// globs match, as Slurm does: a relative glob is taken from the including
// file's directory, glob(3) never matches a dot file with '*', a missing
// plugstack is an empty one. root maps each host path to where it is read.
func Walk(root config.Root, path string) (*Stack, error) {
	s := &Stack{}
	return s, s.load(root, filepath.Clean(path), 0)
}

func (s *Stack) load(root config.Root, file string, depth int) error {
	data, err := os.ReadFile(root.Path(file))
	// Slurm reads a missing file, or a directory a glob matched, as empty.
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EISDIR) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read plugstack: %w", err)
	}
	s.Files = append(s.Files, file)
	lines, bad := Parse(file, data)
	s.Invalid = append(s.Invalid, bad...)
	for _, l := range lines {
		if l.Kind != Include {
			s.Lines = append(s.Lines, l)
			continue
		}
		s.Includes = append(s.Includes, l)
		if depth >= slurm.MaxIncludeDepth {
			s.Problems = append(s.Problems, fmt.Sprintf("%s: includes nest deeper than %d (an include loop?)", l.Where(), slurm.MaxIncludeDepth))
			continue
		}
		pattern := l.Path
		if !filepath.IsAbs(pattern) {
			pattern = filepath.Join(filepath.Dir(file), pattern)
		}
		matches, err := slurm.Glob(root, pattern)
		if err != nil {
			s.Problems = append(s.Problems, fmt.Sprintf("%s: include %q: %v", l.Where(), l.Path, err))
			continue
		}
		for _, m := range matches {
			if err := s.load(root, m, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
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

// Reads reports whether the walk read file (a host path).
func (s *Stack) Reads(file string) bool {
	for _, f := range s.Files {
		if f == filepath.Clean(file) {
			return true
		}
	}
	return false
}
