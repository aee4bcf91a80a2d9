package credentials

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/enroot-agent/enroot-agent/internal/secret"
)

// MaxLine is the longest netrc line, its newline included, that enroot's
// curl uses. Measured with Debian 12's curl 7.88.1 and --netrc-file against
// a local server: a 4095-byte line sends its credentials, a 4096-byte one
// sends none, and curl says nothing (it reads each line into a 4096-byte
// buffer and skips whole a line that does not fit). For login AWS on an ECR
// host that leaves about 4000 bytes of password. TestCurlNetrcLineBound
// holds this constant to the real curl.
const MaxLine = 4095

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

// checkLine refuses a value whose line for host would be longer than curl
// reads: written, it would look fine and send no credentials at all. The
// error gives sizes, never the value.
func checkLine(host, login string, v secret.Secret) error {
	n := len(Entry{Host: host, Login: login, Password: v}.line())
	if n <= MaxLine {
		return nil
	}
	return fmt.Errorf("the value is %d bytes: its netrc line for %s would be %d bytes, and enroot's curl silently ignores a line over %d bytes (it sends no credentials); at most %d bytes fit",
		len(v.Reveal()), host, n, MaxLine, MaxLine-(n-len(v.Reveal())))
}

// checkLines is checkLine for every host a value is written for; the
// longest host's line decides, so the error gives the bound that holds.
func checkLines(hosts []string, login string, v secret.Secret) error {
	longest := ""
	for _, h := range hosts {
		if len(h) > len(longest) {
			longest = h
		}
	}
	return checkLine(longest, login, v)
}
