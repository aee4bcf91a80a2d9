package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/lazyre"
)

var sha256Hex = lazyre.New(`^[0-9a-f]{64}$`)

// validate records every problem in c; it never stops at the first. The
// defaults of credentials.files entries are filled first: they depend on
// which keys the file set, and are then checked like the rest.
func (p *problems) validate(c *Config) {
	p.defaultFiles(&c.Credentials)
	p.absolute("state_dir", c.StateDir)
	p.absolute("cache_dir", c.CacheDir)
	p.validateEnroot(&c.Enroot)
	p.validatePyxis(&c.Pyxis)
	p.validateECR(&c.ECR)
	p.validateCredentials(&c.Credentials)
	p.validateSecrets(&c.Secrets, c.ECR.hosts())
	p.registryHosts(c)
	p.validateVerify(&c.Verify)
	p.validateConverge(&c.Converge)
	p.validateImages(c)
}

func (p *problems) absolute(path, value string) {
	if msg := absolutePath(value); msg != "" {
		p.addf(path, "%q %s", value, msg)
	}
}

// absolutePath says what is wrong with a configured host path. A ..
// element is refused outright: --root joins paths lexically, so
// /../../tmp would leave the root, and such a path is not where it says.
func absolutePath(v string) string {
	switch {
	case !filepath.IsAbs(v):
		return "is not an absolute path"
	case hasDotDot(v):
		return "has a .. element: write the path it means"
	case filepath.Clean(v) != v:
		return fmt.Sprintf("is not a clean path (write it as %q)", clip(filepath.Clean(v), maxQuoted))
	}
	return ""
}

func hasDotDot(v string) bool { return slices.Contains(strings.Split(v, "/"), "..") }

func (p *problems) source(path, value string) {
	u, err := url.Parse(value)
	if err != nil || u.Scheme == "" {
		p.addf(path, "%q is not a URL (https://, http://, s3:// or file://)", value)
		return
	}
	switch u.Scheme {
	case "https", "http", "s3", "file":
	default:
		p.addf(path, "scheme %q is not supported (https, http, s3 or file)", u.Scheme)
	}
}

func (p *problems) digest(path, value string) {
	if !sha256Hex.MatchString(strings.ToLower(value)) {
		p.addf(path, "%q is not a sha256 digest (64 hex characters)", value)
	}
}

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
