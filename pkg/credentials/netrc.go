package credentials

import (
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/secret"
)

// Entry is one single-line netrc entry at column 0, the only form enroot
// reads: "machine <host> login <login> password <password>".
type Entry struct {
	Host     string
	Login    string
	Password secret.Secret
}

// line renders e exactly as enroot greps it. It always ends in "\n", even in
// a CRLF file: enroot would read a trailing "\r" as part of the password.
func (e Entry) line() string {
	return "machine " + e.Host + " login " + e.Login + " password " + e.Password.Reveal() + "\n"
}

// Netrc is a parsed netrc file that renders back byte for byte, so entries,
// comments, macros and line endings the agent does not own survive a rewrite.
type Netrc struct {
	lines []netrcLine
}

type netrcLine struct {
	raw   string // with its line ending, if it had one
	entry *Entry // set for a single-line entry at column 0
}

// ParseNetrc never fails: whatever it does not understand is kept verbatim.
func ParseNetrc(data string) *Netrc {
	n := &Netrc{}
	var sc scanner
	for len(data) > 0 {
		i := strings.IndexByte(data, '\n') + 1
		if i == 0 {
			i = len(data)
		}
		raw := data[:i]
		data = data[i:]
		n.lines = append(n.lines, netrcLine{raw: raw, entry: sc.line(raw)})
	}
	return n
}

// Entries lists the single-line entries at column 0, in file order.
func (n *Netrc) Entries() []Entry {
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
	for _, e := range n.Entries() {
		if e.Host == host {
			return e, true
		}
	}
	return Entry{}, false
}

// Merge replaces the agent's entries with want. An entry is the agent's when
// its host is in want (so a host is never listed twice), or when owned says
// the host is one the agent manages and the entry holds a plain token for
// login AWS (so a dropped registry's token goes away, while a user's
// "password $(aws ecr get-login-password)" line stays). The wanted entries
// go first: before any "default" entry, which would otherwise match first in
// curl, and never inside a macdef body.
func (n *Netrc) Merge(want []Entry, owned func(host string) bool) *Netrc {
	return n.MergeOwned(want, func(e Entry) bool {
		return e.Login == "AWS" && !strings.HasPrefix(e.Password.Reveal(), "$") && owned(e.Host)
	})
}

// MergeOwned is Merge with the agent's entries told apart by the whole
// entry: a registry served from a secret owns its hosts' lines with its own
// login (NGC's is $oauthtoken), not only login AWS.
func (n *Netrc) MergeOwned(want []Entry, owned func(Entry) bool) *Netrc {
	wanted := map[string]bool{}
	out := &Netrc{}
	for _, e := range want {
		wanted[e.Host] = true
		e := e
		out.lines = append(out.lines, netrcLine{raw: e.line(), entry: &e})
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
