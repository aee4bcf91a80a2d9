package credentials

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// checkValue refuses a secret that enroot would execute or mis-parse once
// it is on a netrc line: enroot runs a password starting with $ through
// /bin/sh as the user at every import, and whitespace, a newline or a NUL
// splits or ends the line. The error never quotes the value.
func checkValue(v string) error {
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
