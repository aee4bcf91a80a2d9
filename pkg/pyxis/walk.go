package pyxis

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// maxDepth bounds include nesting: Slurm itself has no bound and would
// recurse until it crashes on an include loop.
const maxDepth = 16

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
		if depth >= maxDepth {
			s.Problems = append(s.Problems, fmt.Sprintf("%s: includes nest deeper than %d (an include loop?)", l.Where(), maxDepth))
			continue
		}
		pattern := l.Path
		if !filepath.IsAbs(pattern) {
			pattern = filepath.Join(filepath.Dir(file), pattern)
		}
		matches, err := Glob(root, pattern)
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

// Glob matches pattern, a host path, like glob(3) with no flags, which is
// what Slurm's include uses: a name starting with '.' is matched only by a
// pattern component that itself starts with '.'. That is why the agent's
// temp files (".name.tmp-…") can never be picked up by "*.conf" or "*".
func Glob(root config.Root, pattern string) ([]string, error) {
	pattern = filepath.Clean(pattern)
	matches, err := filepath.Glob(root.Path(pattern))
	if err != nil {
		return nil, err
	}
	prefix := ""
	if root != "" && root != "/" {
		prefix = filepath.Clean(string(root))
	}
	var out []string
	for _, m := range matches {
		host := strings.TrimPrefix(m, prefix)
		if !hidden(pattern, host) {
			out = append(out, host)
		}
	}
	return out, nil
}

// hidden reports whether match has a dot-name component where pattern's
// component does not start with a dot.
func hidden(pattern, match string) bool {
	pc := strings.Split(pattern, "/")
	mc := strings.Split(match, "/")
	if len(pc) != len(mc) {
		return false
	}
	for i := range mc {
		if strings.HasPrefix(mc[i], ".") && !strings.HasPrefix(pc[i], ".") {
			return true
		}
	}
	return false
}
