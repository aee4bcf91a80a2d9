package config

import (
	"fmt"
	"sort"
	"strings"
)

// FieldError is one problem in a config file, located by its YAML path and,
// when the key is present in the file, by its line.
type FieldError struct {
	File string
	Line int // 0 when the value came from the defaults
	Path string
	Msg  string
}

func (e *FieldError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Path == "" {
		return loc + ": " + e.Msg
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Path, e.Msg)
}

// Errors is every problem found in one load, in file order.
type Errors []*FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// problems collects errors by path while decoding and validating; lines maps a
// path to the line it was found on, so validation can point at the file too.
type problems struct {
	file  string
	lines map[string]int
	errs  Errors
}

func (p *problems) addf(path, format string, args ...any) {
	p.addAt(p.line(path), path, format, args...)
}

// addAt records a problem at a known line. Values quoted into the message
// are cut to a readable length: a 5 MB value must not become a 5 MB error.
func (p *problems) addAt(line int, path, format string, args ...any) {
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = clip(s, maxQuoted)
		}
	}
	p.errs = append(p.errs, &FieldError{File: p.file, Line: line, Path: clip(path, maxPath), Msg: clip(fmt.Sprintf(format, args...), maxMsg)})
}

// line finds the line of path or of its nearest ancestor present in the
// file; "" is the document itself.
func (p *problems) line(path string) int {
	for {
		if l, ok := p.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
}

func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	// File order reads best; problems with defaults (line 0) go last.
	sort.SliceStable(p.errs, func(i, j int) bool {
		a, b := p.errs[i].Line, p.errs[j].Line
		return a != 0 && (b == 0 || a < b)
	})
	return p.errs
}
