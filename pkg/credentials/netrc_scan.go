package credentials

import (
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/secret"
)

// scanner follows netrc's token grammar across lines, only far enough to
// know which lines are macro bodies (never entries) and whether a line
// starts with a keyword rather than a value left over from the line before.
type scanner struct {
	inMacro   bool // inside a macdef body, which ends at an empty line
	macroNext bool // the macdef header line is done; the body starts next line
	needValue bool // the last token was a keyword still waiting for its value
	macdef    bool // that keyword was macdef
}

// keywords that take a value; "default" takes none.
var valued = map[string]bool{"machine": true, "login": true, "password": true, "account": true, "macdef": true}

// line consumes one raw line and returns its entry, if it is one.
func (s *scanner) line(raw string) *Entry {
	text := strings.TrimRight(raw, "\r\n")
	if s.inMacro {
		s.inMacro = strings.TrimSpace(text) != ""
		return nil
	}
	if s.macroNext {
		s.macroNext, s.inMacro = false, strings.TrimSpace(text) != ""
		return nil
	}
	atKeyword := !s.needValue
	toks := s.tokens(text)
	if !atKeyword || !strings.HasPrefix(text, "machine") || len(toks) != 6 {
		return nil
	}
	if toks[0] != "machine" || toks[2] != "login" || toks[4] != "password" || strings.ContainsAny(text, "\"#") {
		return nil
	}
	return &Entry{Host: toks[1], Login: toks[3], Password: secret.New(toks[5])}
}

// tokens splits text like curl does (whitespace, double quotes with
// backslash escapes, # starting a comment where a keyword is expected) and
// advances the grammar state.
func (s *scanner) tokens(text string) []string {
	var toks []string
	for rest := text; ; {
		rest = strings.TrimLeft(rest, " \t\r")
		if rest == "" {
			return toks
		}
		if rest[0] == '#' && !s.needValue {
			return toks
		}
		tok, n := nextToken(rest)
		rest = rest[n:]
		toks = append(toks, tok)
		switch {
		case s.needValue:
			s.needValue = false
			if s.macdef {
				// The rest of the macdef line is ignored; the body follows.
				s.macdef, s.macroNext = false, true
				return toks
			}
		case valued[tok]:
			s.needValue, s.macdef = true, tok == "macdef"
		}
	}
}

func nextToken(s string) (string, int) {
	if s[0] != '"' {
		i := strings.IndexAny(s, " \t\r")
		if i < 0 {
			i = len(s)
		}
		return s[:i], i
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return b.String(), i + 1
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), len(s)
}
