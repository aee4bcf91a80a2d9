package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteTable shows one line per check, with the fix under each problem, and
// a last line with the verdict and where the checks ran (`by the daemon on
// <socket>`, `locally`): what `enroot-agent verify` prints without --json.
func WriteTable(w io.Writer, rep Report, where string) {
	width := 0
	for _, r := range rep.Results {
		width = max(width, len(r.Name))
	}
	counts := map[Status]int{}
	for _, r := range rep.Results {
		fmt.Fprintf(w, "%s %-*s  %s\n", mark(r.Status), width, r.Name, r.Message)
		if r.Status != OK && r.Fix != "" {
			fmt.Fprintf(w, "  %-*s  fix: %s\n", width, "", r.Fix)
		}
		counts[r.Status]++
	}
	var parts []string
	for _, s := range []Status{OK, Fail, Unknown} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	fmt.Fprintf(w, "%s: %s (%s), checked %s\n", nodeOr(rep.Node), rep.Status, strings.Join(parts, ", "), where)
}

// WriteJSON writes the report as `verify --json` prints it.
func WriteJSON(w io.Writer, rep Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func mark(s Status) string {
	switch s {
	case OK:
		return "✓"
	case Fail:
		return "✗"
	}
	return "?"
}

func nodeOr(n string) string {
	if n == "" {
		return "node"
	}
	return "node " + n
}
