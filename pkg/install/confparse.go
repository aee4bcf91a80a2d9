package install

import (
	"slices"
	"strings"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// ConfEntry is one line of an enroot.conf as enroot reads it.
type ConfEntry struct {
	Line  int
	Key   string
	Value string
	// Known is false for keys enroot ignores (comments included).
	Known bool
}

// ParseConf reads enroot.conf the way enroot does
// (IFS=$' \t=' read -r key value): the key is the first word, the value the
// rest of the line after the spaces, tabs and one '=' that follow it.
func ParseConf(data string) []ConfEntry {
	var entries []ConfEntry
	for i, line := range strings.Split(data, "\n") {
		line = strings.TrimLeft(line, " \t")
		if line == "" {
			continue
		}
		end := strings.IndexAny(line, " \t=")
		if end < 0 {
			end = len(line)
		}
		key, rest := line[:end], line[end:]
		rest = strings.TrimLeft(rest, " \t")
		rest = strings.TrimPrefix(rest, "=")
		rest = strings.Trim(rest, " \t")
		if key == "" {
			continue
		}
		entries = append(entries, ConfEntry{Line: i + 1, Key: key, Value: rest, Known: config.ValidEnrootConfKey(key)})
	}
	return entries
}

// EffectiveConf is what enroot takes from the entries: known keys only, and
// the first value of a key wins.
func EffectiveConf(entries []ConfEntry) map[string]string {
	conf := map[string]string{}
	for _, e := range entries {
		if _, seen := conf[e.Key]; e.Known && !seen {
			conf[e.Key] = e.Value
		}
	}
	return conf
}

// DiffConf lists the keys whose effective value differs between two files.
func DiffConf(have, want string) []string {
	a, b := EffectiveConf(ParseConf(have)), EffectiveConf(ParseConf(want))
	var keys []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			keys = append(keys, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
