package netrc

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/enroot-agent/enroot-agent/internal/secret"
)

// Entry is one single-line netrc entry at column 0, the only form enroot
// reads: "machine <host> login <login> password <password>".
type Entry struct {
	Host     string
	Login    string
	Password secret.Secret
}

// Line renders e exactly as enroot greps it. It always ends in "\n", even in
// a CRLF file: enroot would read a trailing "\r" as part of the password.
// It holds the password: never log it.
func (e Entry) Line() string {
	return "machine " + e.Host + " login " + e.Login + " password " + e.Password.Reveal() + "\n"
}

// Netrc is a parsed netrc file that renders back byte for byte, so entries,
// comments, macros and line endings the agent does not own survive a rewrite.
type Netrc struct {
	lines []line
}

type line struct {
	raw   string // with its line ending, if it had one
	entry *Entry // set for a single-line entry at column 0
}

// Parse never fails: whatever it does not understand is kept verbatim.
func Parse(data string) *Netrc {
	n := &Netrc{}
	var sc scanner
	for len(data) > 0 {
		i := strings.IndexByte(data, '\n') + 1
		if i == 0 {
			i = len(data)
		}
		raw := data[:i]
		data = data[i:]
		n.lines = append(n.lines, line{raw: raw, entry: sc.line(raw)})
	}
	return n
}

// entries lists the single-line entries at column 0, in file order.
func (n *Netrc) entries() []Entry {
	var out []Entry
	for _, l := range n.lines {
		if l.entry != nil {
			out = append(out, *l.entry)
		}
	}
	return out
}

// Lookup returns the entry enroot would use for host: the first one.
func (n *Netrc) Lookup(host string) (Entry, bool) {
	for _, e := range n.entries() {
		if e.Host == host {
			return e, true
		}
	}
	return Entry{}, false
}

// Merge replaces the agent's entries with want. An entry is the agent's when
// its host is in want (so a host is never listed twice), or when owned says
// so (a dropped registry's token goes away, while a user's
// "password $(aws ecr get-login-password)" line stays: the caller decides).
// The wanted entries go first: before any "default" entry, which would
// otherwise match first in curl, and never inside a macdef body.
func (n *Netrc) Merge(want []Entry, owned func(Entry) bool) *Netrc {
	wanted := map[string]bool{}
	out := &Netrc{}
	for _, e := range want {
		wanted[e.Host] = true
		e := e
		out.lines = append(out.lines, line{raw: e.Line(), entry: &e})
	}
	for _, l := range n.lines {
		if e := l.entry; e != nil && (wanted[e.Host] || owned(*e)) {
			continue
		}
		out.lines = append(out.lines, l)
	}
	return out
}

// Render returns the file's bytes.
func (n *Netrc) Render() []byte {
	var b strings.Builder
	for _, l := range n.lines {
		b.WriteString(l.raw)
	}
	return []byte(b.String())
}

// scanner follows netrc's token grammar across lines, only far enough to
// know which lines are macro bodies (never entries) and whether a line
// starts with a keyword rather than a value left over from the line before.
type scanner struct {
	inMacro   bool // inside a macdef body, which ends at an empty line
	macroNext bool // the macdef header line is done; the body starts next line
	needValue bool // the last token was a keyword still waiting for its value
	macdef    bool // that keyword was macdef
}

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
		case takesValue(tok):
			s.needValue, s.macdef = true, tok == "macdef"
		}
	}
}

// takesValue says which keywords take a value; "default" takes none.
func takesValue(tok string) bool {
	switch tok {
	case "machine", "login", "password", "account", "macdef":
		return true
	}
	return false
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

// MaxLine is the longest netrc line, its newline included, that enroot's
// curl uses. Measured with Debian 12's curl 7.88.1 and --netrc-file against
// a local server: a 4095-byte line sends its credentials, a 4096-byte one
// sends none, and curl says nothing (it reads each line into a 4096-byte
// buffer and skips whole a line that does not fit). For login AWS on an ECR
// host that leaves about 4000 bytes of password. TestCurlNetrcLineBound
// holds this constant to the real curl.
const MaxLine = 4095

// CheckValue refuses a secret that enroot would execute or mis-parse once
// it is on a netrc line: enroot runs a password starting with $ through
// /bin/sh as the user at every import, and whitespace, a newline or a NUL
// splits or ends the line. The error never quotes the value.
func CheckValue(v string) error {
	switch {
	case v == "":
		return errors.New("the value is empty")
	case strings.HasPrefix(v, "$"):
		return errors.New(`the value starts with "$", which enroot would run as a shell command`)
	case strings.ContainsRune(v, 0):
		return errors.New("the value holds a NUL byte")
	case !utf8.ValidString(v):
		return errors.New("the value is not UTF-8 text")
	case strings.IndexFunc(v, unicode.IsSpace) >= 0:
		return errors.New("the value holds whitespace or a newline, which would split its netrc line")
	case strings.IndexFunc(v, unicode.IsControl) >= 0 || strings.ContainsAny(v, "\"#"):
		return errors.New("the value holds a control character, a quote or #, which a netrc line cannot carry")
	}
	return nil
}

// CheckLine refuses a value whose line for host would be longer than curl
// reads: written, it would look fine and send no credentials at all. The
// error gives sizes, never the value.
func CheckLine(host, login string, v secret.Secret) error {
	n := len(Entry{Host: host, Login: login, Password: v}.Line())
	if n <= MaxLine {
		return nil
	}
	return fmt.Errorf("the value is %d bytes: its netrc line for %s would be %d bytes, and enroot's curl silently ignores a line over %d bytes (it sends no credentials); at most %d bytes fit",
		len(v.Reveal()), host, n, MaxLine, MaxLine-(n-len(v.Reveal())))
}

// CheckLines is CheckLine for every host a value is written for; the
// longest host's line decides, so the error gives the bound that holds.
func CheckLines(hosts []string, login string, v secret.Secret) error {
	longest := ""
	for _, h := range hosts {
		if len(h) > len(longest) {
			longest = h
		}
	}
	return CheckLine(longest, login, v)
}
