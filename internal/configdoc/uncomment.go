package configdoc

import (
	"regexp"
	"strings"
)

// setting matches a commented-out setting: "#" directly followed by an even
// number of spaces and a non-space. An explanation ("# text") has one space.
var setting = regexp.MustCompile(`^#((?:  )*)(\S.*)$`)

// Uncomment turns every commented-out setting of a rendered file into a live
// one and drops the explanations: what an admin gets by removing every "#".
func Uncomment(text string) string {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		if m := setting.FindStringSubmatch(l); m != nil && !strings.HasPrefix(m[2], "#") {
			b.WriteString(m[1] + m[2] + "\n")
		}
	}
	return b.String()
}
