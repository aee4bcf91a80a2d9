package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Where this machine's apt reads Debian from: the rootfs is built from the
// same mirror, read at run time so that no mirror host is ever written into
// the repository.
const (
	debianSources = "/etc/apt/sources.list.d/debian.sources"
	sourcesList   = "/etc/apt/sources.list"
)

// DebianMirror is the URI this machine's apt uses for suite (e.g.
// "bookworm"): from the deb822 debian.sources, else the one-line
// sources.list.
func DebianMirror(suite string) (string, error) {
	for _, f := range []struct {
		path  string
		parse func(string, string) (string, bool)
	}{{debianSources, mirrorFromDeb822}, {sourcesList, mirrorFromList}} {
		data, err := os.ReadFile(f.path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		if uri, ok := f.parse(string(data), suite); ok {
			return uri, nil
		}
	}
	return "", fmt.Errorf("no apt source for Debian %s in %s or %s: the cluster's node rootfs is built "+
		"with debootstrap from the mirror this machine's apt uses", suite, debianSources, sourcesList)
}

// mirrorFromDeb822 finds the first enabled "deb" stanza whose Suites list
// suite itself (not suite-updates or suite-security) and returns its first URI.
func mirrorFromDeb822(data, suite string) (string, bool) {
	for _, stanza := range strings.Split(data, "\n\n") {
		fields := map[string]string{}
		for _, line := range strings.Split(stanza, "\n") {
			if strings.HasPrefix(line, "#") || strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
				continue
			}
			if k, v, ok := strings.Cut(line, ":"); ok {
				fields[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
		if strings.EqualFold(fields["enabled"], "no") || !hasWord(fields["types"], "deb") ||
			!hasWord(fields["suites"], suite) {
			continue
		}
		if uris := strings.Fields(fields["uris"]); len(uris) > 0 {
			return uris[0], true
		}
	}
	return "", false
}

// mirrorFromList reads "deb [options] URI SUITE COMPONENTS..." lines.
func mirrorFromList(data, suite string) (string, bool) {
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") { // [arch=amd64 signed-by=...]
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) == 0 {
				continue
			}
			f = f[1:]
		}
		if len(f) >= 2 && f[1] == suite {
			return f[0], true
		}
	}
	return "", false
}

func hasWord(list, word string) bool {
	for _, w := range strings.Fields(list) {
		if w == word {
			return true
		}
	}
	return false
}
