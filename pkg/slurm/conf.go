package slurm

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// Slurm's file formats share one way of pulling in other files: an include
// line names a path or a glob, relative to the including file's directory,
// and the files it matches are read at that point. IncludeWalker does that
// walk for slurm.conf (ReadConf) and plugstack.conf (pkg/pyxis); what a line
// means is each caller's parser.

// Bounds of a walk. Slurm itself has none and recurses until it crashes on
// an include loop; the agent reports the loop instead.
const (
	MaxIncludeDepth = 16      // include nesting
	MaxIncludeFiles = 1000    // files one walk reads: a loop through a glob fans out
	MaxConfSize     = 4 << 20 // bytes of one file: config files hold kilobytes
)

// Missing says what a walk makes of a top file that does not exist.
type Missing int

const (
	// MissingFails: the missing file is an error. slurm.conf: without it
	// no Slurm daemon or command starts.
	MissingFails Missing = iota
	// MissingIsEmpty: the missing file reads as empty. plugstack.conf:
	// Slurm's spank loads no plugin then, and fails nothing.
	MissingIsEmpty
)

// An Include is one include line.
type Include struct {
	File    string // the including file, a host path
	Line    int    // 1-based; 0 when the parser does not count lines
	Pattern string // the path or glob, as written
}

// Path is the include's pattern as a clean host path: a relative one is
// taken from the including file's directory.
func (i Include) Path() string {
	if filepath.IsAbs(i.Pattern) {
		return filepath.Clean(i.Pattern)
	}
	return filepath.Join(filepath.Dir(i.File), i.Pattern)
}

// Where is "file:line", the way Slurm's errors point at a line.
func (i Include) Where() string {
	if i.Line == 0 {
		return i.File
	}
	return fmt.Sprintf("%s:%d", i.File, i.Line)
}

// IncludeError is an include the walk did not follow: a bad glob, or one past
// the bounds (an include loop, most likely). The rest of the walk goes on.
type IncludeError struct {
	Include
	Err error
}

func (e *IncludeError) Error() string {
	return fmt.Sprintf("%s: include %q: %v", e.Where(), e.Pattern, e.Err)
}

func (e *IncludeError) Unwrap() error { return e.Err }

// IncludeWalker reads a Slurm config file and, depth first, every file its
// includes match, in the order Slurm reads them.
type IncludeWalker struct {
	Root    config.Root // maps each host path to where it is read
	Missing Missing     // what a missing top file is
}

// Visit parses one file. It calls include at each include line, in the
// file's order; include returns once the files the line matches are read
// (visited in turn), so what a parser collects keeps Slurm's order.
type Visit func(file string, data []byte, include func(Include))

// Walked is what a walk read, and what it could not follow.
type Walked struct {
	Files    []string        // every file read, as host paths, in order
	Problems []*IncludeError // includes not followed
}

// Walk reads path (a host path) and what it includes, calling visit for each
// file. A file that vanishes between the glob and the read is skipped, and a
// directory a glob matches reads as empty, as in Slurm. It fails only when
// the top file is missing (with MissingFails) or a file cannot be read.
func (w IncludeWalker) Walk(path string, visit Visit) (Walked, error) {
	var out Walked
	var failed error
	var walk func(file string, depth int) error
	walk = func(file string, depth int) error {
		data, err := readBounded(w.Root.Path(file))
		if err != nil {
			return err
		}
		out.Files = append(out.Files, file)
		visit(file, data, func(inc Include) {
			if failed == nil {
				failed = w.follow(inc, depth, &out, walk)
			}
		})
		return failed
	}
	err := walk(filepath.Clean(path), 0)
	if w.Missing == MissingIsEmpty && skippable(err) {
		err = nil
	}
	return out, err
}

// follow reads the files inc matches, or records why it does not.
func (w IncludeWalker) follow(inc Include, depth int, out *Walked, walk func(string, int) error) error {
	if depth >= MaxIncludeDepth {
		out.problem(inc, fmt.Errorf("includes nest deeper than %d (an include loop?)", MaxIncludeDepth))
		return nil
	}
	matches, err := Glob(w.Root, inc.Path())
	if err != nil {
		out.problem(inc, err)
		return nil
	}
	for _, m := range matches {
		if len(out.Files) >= MaxIncludeFiles {
			out.problem(inc, fmt.Errorf("more than %d files to read (an include loop?)", MaxIncludeFiles))
			return nil
		}
		if err := walk(m, depth+1); err != nil && !skippable(err) {
			return err
		}
	}
	return nil
}

// problem records that inc was not followed, once per line and reason: a
// loop through a glob meets the same line many times.
func (out *Walked) problem(inc Include, err error) {
	p := &IncludeError{inc, err}
	for _, seen := range out.Problems {
		if seen.Error() == p.Error() {
			return
		}
	}
	out.Problems = append(out.Problems, p)
}

// errIsDir marks a directory a glob matched: Slurm reads it as empty.
var errIsDir = errors.New("is a directory")

func skippable(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, errIsDir)
}

// readBounded reads one config file, at most MaxConfSize bytes of it.
// O_NONBLOCK: opening a FIFO a glob matched must not wait for a writer.
func readBounded(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	switch {
	case err != nil:
		return nil, err
	case st.IsDir():
		return nil, &fs.PathError{Op: "read", Path: path, Err: errIsDir}
	case !st.Mode().IsRegular():
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: not a regular file", syscall.EINVAL)}
	case st.Size() > MaxConfSize:
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%d bytes, over the %d a config file may hold", st.Size(), MaxConfSize)}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxConfSize+1))
	if err == nil && len(data) > MaxConfSize {
		err = &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("grew past %d bytes while read", MaxConfSize)}
	}
	return data, err
}

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

// Setting is one Key=Value from slurm.conf, with where it was set.
type Setting struct {
	Value string
	Where string // file:line
}

// ParseConf reads the Key=Value pairs of one slurm.conf file. Keys are
// case-insensitive in Slurm and come back lower-cased; '#' starts a comment;
// NodeName=… and PartitionName=… lines, whose pairs describe nodes and
// partitions rather than the cluster, are skipped. includes lists the
// Include lines, in order.
func ParseConf(file string, data []byte) (settings map[string]Setting, includes []Include) {
	settings = map[string]Setting{}
	for i, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(StripComment(line))
		if len(fields) == 0 {
			continue
		}
		if strings.EqualFold(fields[0], "include") && len(fields) > 1 {
			includes = append(includes, Include{File: file, Line: i + 1, Pattern: fields[1]})
			continue
		}
		key, _, _ := strings.Cut(fields[0], "=")
		switch strings.ToLower(key) {
		case "nodename", "partitionname", "nodeset", "frontendname", "downnodes":
			continue
		}
		for _, f := range fields {
			k, v, ok := strings.Cut(f, "=")
			if ok {
				settings[strings.ToLower(k)] = Setting{Value: v, Where: fmt.Sprintf("%s:%d", file, i+1)}
			}
		}
	}
	return settings, includes
}

// SlurmConfPath finds slurm.conf as Slurm's clients do: SLURM_CONF, else the
// build's sysconfdir, <prefix>/etc (ParallelCluster) or /etc/slurm (distros).
// Like every host path, it is read under --root.
func SlurmConfPath(prefix string, root config.Root) string {
	if conf := os.Getenv("SLURM_CONF"); conf != "" {
		return conf
	}
	conf := filepath.Join(prefix, "etc", "slurm.conf")
	if !Regular(root.Path(conf)) && Regular(root.Path("/etc/slurm/slurm.conf")) {
		return "/etc/slurm/slurm.conf"
	}
	return conf
}

// ReadConf reads slurm.conf (a host path) and the files it includes. A
// file's includes are read after its own settings and override them; a
// later setting overrides an earlier one, as in Slurm. A missing slurm.conf,
// and an include the walk cannot follow, are errors.
func ReadConf(root config.Root, path string) (map[string]Setting, error) {
	all := map[string]Setting{}
	w := IncludeWalker{Root: root, Missing: MissingFails}
	walked, err := w.Walk(path, func(file string, data []byte, include func(Include)) {
		settings, includes := ParseConf(file, data)
		maps.Copy(all, settings)
		for _, inc := range includes {
			include(inc)
		}
	})
	if err == nil && len(walked.Problems) > 0 {
		err = walked.Problems[0]
	}
	return all, err
}

// MemlockAdvice says what is wrong with how slurm.conf propagates the
// memlock limit, or "" when jobs keep slurmd's (unlimited) one. By default
// Slurm copies the submitting shell's limits into the job, and a login
// node's 64 KiB memlock then breaks RDMA, EFA and NCCL inside containers.
func MemlockAdvice(s map[string]Setting) string {
	if except, ok := s["propagateresourcelimitsexcept"]; ok && (hasLimit(except.Value, "MEMLOCK") || strings.EqualFold(except.Value, "ALL")) {
		return ""
	}
	if prop, ok := s["propagateresourcelimits"]; ok {
		if strings.EqualFold(prop.Value, "NONE") || !hasLimit(prop.Value, "MEMLOCK") && !strings.EqualFold(prop.Value, "ALL") {
			return ""
		}
		return fmt.Sprintf("%s: PropagateResourceLimits=%s propagates MEMLOCK", prop.Where, prop.Value)
	}
	return "PropagateResourceLimitsExcept does not list MEMLOCK, so jobs inherit the submitting shell's memlock limit"
}

func hasLimit(list, limit string) bool {
	for _, l := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(l), limit) || strings.EqualFold(strings.TrimSpace(l), "RLIMIT_"+limit) {
			return true
		}
	}
	return false
}
