package config

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Limits that keep an error readable whatever the file holds.
const (
	maxQuoted = 200 // a value quoted into a message
	maxPath   = 160 // a YAML path (keys are the file's too)
	maxMsg    = 400 // a whole message
)

// document parses data as exactly one YAML document: a second one would be
// ignored by a plain decoder, and what it says would silently not count.
// nil means an empty file.
func (p *problems) document(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil {
		return nil, p.syntax(data, err)
	}
	var second yaml.Node
	switch err := dec.Decode(&second); {
	case errors.Is(err, io.EOF):
		return &root, nil
	case err != nil:
		return nil, p.syntax(data, err)
	}
	return nil, Errors{{File: p.file, Line: max(second.Line, 1),
		Msg: "a second YAML document (after ---): the config is one document; merge them"}}
}

var yamlLine = regexp.MustCompile(`^yaml: line ([0-9]+): (.*)$`)

// syntax turns the YAML library's error into file:line: message. The library
// names no line for an error on the first line, nor for a byte it cannot
// read or an unknown anchor; those lines are found here.
func (p *problems) syntax(data []byte, err error) error {
	text, _, _ := strings.Cut(err.Error(), "\n")
	msg, line := strings.TrimPrefix(text, "yaml: "), 0
	if m := yamlLine.FindStringSubmatch(text); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		line = lineOf(data, offending(data, msg))
	}
	return Errors{{File: p.file, Line: max(line, 1), Msg: clip(msg, maxMsg)}}
}

// offending is the offset of what msg complains about, or -1.
func offending(data []byte, msg string) int {
	switch {
	case strings.Contains(msg, "UTF-8") || strings.Contains(msg, "UTF-16"):
		return invalidUTF8(data)
	case strings.Contains(msg, "control characters"):
		return bytes.IndexFunc(data, func(r rune) bool { return !printable(r) })
	case strings.HasPrefix(msg, "unknown anchor '"):
		name, _, _ := strings.Cut(strings.TrimPrefix(msg, "unknown anchor '"), "'")
		return bytes.Index(data, []byte("*"+name))
	}
	return -1
}

func invalidUTF8(data []byte) int {
	for off := 0; off < len(data); {
		r, size := utf8.DecodeRune(data[off:])
		if r == utf8.RuneError && size == 1 {
			return off
		}
		off += size
	}
	return -1
}

// printable is YAML 1.1's set of characters a stream may hold.
func printable(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r' || r == 0x85:
		return true
	case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0:
		return false
	case r >= 0xd800 && r < 0xe000 || r == 0xfeff || r == 0xfffe || r == 0xffff:
		return false
	}
	return true
}

// lineOf is the 1-based line of offset off; line 1 when off is unknown.
func lineOf(data []byte, off int) int {
	if off < 0 {
		return 1
	}
	return 1 + bytes.Count(data[:off], []byte("\n"))
}

// clip cuts s to about n bytes at a rune boundary, saying how long it was.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}
