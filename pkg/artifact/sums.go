package artifact

import (
	"fmt"
	"strings"
)

// ParseSums reads a SHA256SUMS file as written by sha256sum: one
// "<64 hex>  <name>" per line, the name optionally prefixed with '*' (binary
// mode) or a path. Blank lines and '#' comments are skipped. Names are keyed
// by their last path element, since that is how files are requested.
func ParseSums(data string) (map[string]string, error) {
	sums := map[string]string{}
	for i, line := range strings.Split(data, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		digest, name, ok := strings.Cut(line, " ")
		name = strings.TrimPrefix(strings.TrimLeft(name, " "), "*")
		if i := strings.LastIndex(name, "/"); i >= 0 {
			name = name[i+1:]
		}
		digest = strings.ToLower(digest)
		if !ok || !isHexDigest(digest) || name == "" {
			return nil, fmt.Errorf("%s line %d: not \"<sha256>  <file>\"", SumsFile, i+1)
		}
		if prev, dup := sums[name]; dup && prev != digest {
			return nil, fmt.Errorf("%s line %d: %s listed twice with different digests", SumsFile, i+1, name)
		}
		sums[name] = digest
	}
	return sums, nil
}

func isHexDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
