package lazyre

import (
	"regexp"
	"sync"
)

// Regexp is a regular expression compiled once, on its first use; safe
// for concurrent use, as *regexp.Regexp is. An expression that does not
// compile panics at that first use, as regexp.MustCompile would at init:
// the tests of the code using it find it.
type Regexp struct {
	expr string
	once sync.Once
	re   *regexp.Regexp
}

// New declares expr, for a package-level var; nothing is compiled yet.
func New(expr string) *Regexp { return &Regexp{expr: expr} }

// Regexp is the compiled expression.
func (r *Regexp) Regexp() *regexp.Regexp {
	r.once.Do(func() { r.re = regexp.MustCompile(r.expr) })
	return r.re
}

// The methods of *regexp.Regexp the module uses, so a declaration changes
// from regexp.MustCompile to lazyre.New and its users do not.

func (r *Regexp) String() string                       { return r.expr }
func (r *Regexp) MatchString(s string) bool            { return r.Regexp().MatchString(s) }
func (r *Regexp) FindString(s string) string           { return r.Regexp().FindString(s) }
func (r *Regexp) FindStringSubmatch(s string) []string { return r.Regexp().FindStringSubmatch(s) }
func (r *Regexp) ReplaceAllString(src, repl string) string {
	return r.Regexp().ReplaceAllString(src, repl)
}
