package version

import (
	"fmt"
	"strconv"
	"strings"
)

// V is a release X.Y.Z.
type V [3]int

// Parse reads "X.Y.Z" strictly (an "X.Y" reads as X.Y.0): anything else,
// a negative or a non-number included, is not a version.
func Parse(s string) (V, bool) {
	var v V
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return v, false
	}
	for i, part := range parts {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return v, false
		}
		v[i] = n
	}
	return v, true
}

// Less reports whether v is older than w.
func (v V) Less(w V) bool { return compare(v[:], w[:]) < 0 }

func (v V) String() string { return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]) }

// Compare orders two versions as found on a node (a package database may
// hold any number of components): negative when a is older, 0 when equal,
// positive when newer. A component that is not a number counts as 0.
func Compare(a, b string) int { return compare(lenient(a), lenient(b)) }

func lenient(s string) []int {
	parts := strings.Split(s, ".")
	out := make([]int, len(parts))
	for i, p := range parts {
		out[i], _ = strconv.Atoi(p)
	}
	return out
}

// compare orders component lists, a missing component counting as 0.
func compare(a, b []int) int {
	for i := 0; i < max(len(a), len(b)); i++ {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return x - y
		}
	}
	return 0
}
