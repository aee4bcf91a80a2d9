package slurm

import (
	"path/filepath"
	"strings"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// MaxIncludeDepth bounds include nesting: Slurm itself has no bound and would
// recurse until it crashes on an include loop.
const MaxIncludeDepth = 16

// StripComment drops what follows a '#', which starts a comment anywhere on
// a line of slurm.conf and of plugstack.conf alike.
func StripComment(s string) string {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		return s[:i]
	}
	return s
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

// Matches reports whether an include pattern (a clean host path) makes Slurm
// read file: filepath.Match, plus glob(3)'s rule for dot names.
func Matches(pattern, file string) bool {
	ok, _ := filepath.Match(pattern, file)
	return ok && !hidden(pattern, file)
}
