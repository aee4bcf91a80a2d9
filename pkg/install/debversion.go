package install

import (
	"strings"
)

// This file reads Debian relationship fields (Depends, Pre-Depends,
// Provides) and orders Debian versions, as dpkg does (deb-control(5),
// deb-version(7)). It is small on purpose: the agent only asks "does the
// node satisfy what these package files declare", and the comparator is
// tested against the real `dpkg --compare-versions`.

// debAlt is one alternative of a dependency: a package name with an
// optional version relation (op is "", "<<", "<=", "=", ">=" or ">>").
type debAlt struct {
	Name, Op, Version string
}

func (a debAlt) String() string {
	if a.Op == "" {
		return a.Name
	}
	return a.Name + " (" + a.Op + " " + a.Version + ")"
}

// debDep is one comma-separated entry: satisfied by any of its alternatives.
type debDep []debAlt

func (d debDep) String() string {
	parts := make([]string, len(d))
	for i, a := range d {
		parts[i] = a.String()
	}
	return strings.Join(parts, " | ")
}

// parseDebDeps reads a Depends-style field. Architecture qualifiers
// (name:any), architecture restrictions ([amd64]) and build profiles
// (<!nocheck>) are dropped: a binary package's installed relations have none
// that matter on the node it was built for.
func parseDebDeps(field string) []debDep {
	var out []debDep
	for _, entry := range strings.Split(field, ",") {
		var dep debDep
		for _, alt := range strings.Split(entry, "|") {
			if a, ok := parseDebAlt(alt); ok {
				dep = append(dep, a)
			}
		}
		if len(dep) > 0 {
			out = append(out, dep)
		}
	}
	return out
}

func parseDebAlt(s string) (debAlt, bool) {
	s = strings.TrimSpace(s)
	end := strings.IndexAny(s, " \t([<")
	if end < 0 {
		end = len(s)
	}
	a := debAlt{Name: s[:end]}
	if i := strings.IndexByte(a.Name, ':'); i >= 0 {
		a.Name = a.Name[:i]
	}
	if a.Name == "" {
		return a, false
	}
	if open := strings.IndexByte(s, '('); open >= 0 {
		if closing := strings.IndexByte(s[open:], ')'); closing > 0 {
			rel := strings.TrimSpace(s[open+1 : open+closing])
			a.Op, a.Version = splitRelation(rel)
		}
	}
	return a, true
}

// splitRelation splits ">= 1.5" (or ">=1.5"); the obsolete "<" and ">"
// mean "<=" and ">=", as dpkg still reads them.
func splitRelation(rel string) (string, string) {
	for _, op := range []string{"<<", "<=", ">=", ">>", "=", "<", ">"} {
		if strings.HasPrefix(rel, op) {
			v := strings.TrimSpace(rel[len(op):])
			switch op {
			case "<":
				op = "<="
			case ">":
				op = ">="
			}
			return op, v
		}
	}
	return "", ""
}

// debRelationHolds reports whether version have satisfies "op want".
func debRelationHolds(have, op, want string) bool {
	c := compareDebVersions(have, want)
	switch op {
	case "":
		return true
	case "<<":
		return c < 0
	case "<=":
		return c <= 0
	case "=":
		return c == 0
	case ">=":
		return c >= 0
	case ">>":
		return c > 0
	}
	return false
}

// compareDebVersions orders two Debian versions ([epoch:]upstream[-revision])
// as dpkg does: epoch numerically, then upstream and revision with
// verrevcmp, where '~' sorts before everything, even the end of the string.
func compareDebVersions(a, b string) int {
	ea, ua, ra := splitDebVersion(a)
	eb, ub, rb := splitDebVersion(b)
	if ea != eb {
		if ea < eb {
			return -1
		}
		return 1
	}
	if c := verrevcmp(ua, ub); c != 0 {
		return c
	}
	return verrevcmp(ra, rb)
}

func splitDebVersion(v string) (epoch int, upstream, revision string) {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, ':'); i >= 0 {
		for _, c := range v[:i] {
			epoch = epoch*10 + int(c-'0')
		}
		v = v[i+1:]
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

// verrevcmp is dpkg's lib/dpkg/version.c comparison, in Go.
func verrevcmp(a, b string) int {
	for a != "" || b != "" {
		for (a != "" && !isDigit(a[0])) || (b != "" && !isDigit(b[0])) {
			ac, bc := charOrder(a), charOrder(b)
			if ac != bc {
				return sign(ac - bc)
			}
			// Equal ranks inside this loop are the same non-digit byte.
			a, b = a[1:], b[1:]
		}
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		firstDiff := 0
		for a != "" && b != "" && isDigit(a[0]) && isDigit(b[0]) {
			if firstDiff == 0 {
				firstDiff = int(a[0]) - int(b[0])
			}
			a, b = a[1:], b[1:]
		}
		if a != "" && isDigit(a[0]) {
			return 1
		}
		if b != "" && isDigit(b[0]) {
			return -1
		}
		if firstDiff != 0 {
			return sign(firstDiff)
		}
	}
	return 0
}

// charOrder ranks the first byte of s: '~' lowest, then the end of the
// string and digits, then letters, then everything else.
func charOrder(s string) int {
	if s == "" || isDigit(s[0]) {
		return 0
	}
	switch c := s[0]; {
	case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
		return int(c)
	case c == '~':
		return -1
	default:
		return int(c) + 256
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}
