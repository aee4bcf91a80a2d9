package configdoc

import (
	"fmt"
	"strings"
)

// Row is one line of the configuration table: | `key` | default | meaning |.
type Row struct {
	Key     string
	Default string
	Meaning string
	Line    int
}

// ParseTable reads the first Markdown table under the heading (a line equal
// to heading, such as "## Configuration") whose header's first cell is "key".
// Rows whose first cell is not a single `backticked` key are an error naming
// the line, so a typo in the docs cannot hide a key.
func ParseTable(md, heading string) ([]Row, error) {
	lines := strings.Split(md, "\n")
	start := -1
	for i, l := range lines {
		if strings.TrimSpace(l) == heading {
			start = i + 1
			break
		}
	}
	if start < 0 {
		return nil, fmt.Errorf("no %q heading", heading)
	}
	var rows []Row
	inTable := false
	for i := start; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "#") && !strings.HasPrefix(l, heading+"#") {
			break // the next section
		}
		cells, ok := splitRow(l)
		switch {
		case !ok:
			if inTable {
				return rows, nil
			}
		case !inTable:
			inTable = cells[0] == "key"
		case len(cells) != 3:
			return nil, fmt.Errorf("line %d: %d cells, want 3 (key, default, meaning); escape a | in a cell as \\|", i+1, len(cells))
		case strings.Trim(cells[0], "-: ") == "":
			// the |---|---| separator
		default:
			r, err := parseRow(cells, i+1)
			if err != nil {
				return nil, err
			}
			rows = append(rows, r)
		}
	}
	if !inTable {
		return nil, fmt.Errorf("no table with a \"key\" column under %q", heading)
	}
	return rows, nil
}

// splitRow splits "| a | b \| c |" into its cells, honouring escaped pipes.
func splitRow(l string) ([]string, bool) {
	if len(l) < 2 || !strings.HasPrefix(l, "|") || !strings.HasSuffix(l, "|") {
		return nil, false
	}
	const esc = "\x00"
	cells := strings.Split(strings.ReplaceAll(l[1:len(l)-1], `\|`, esc), "|")
	for i := range cells {
		cells[i] = strings.ReplaceAll(strings.TrimSpace(cells[i]), esc, "|")
	}
	return cells, true
}

func parseRow(cells []string, line int) (Row, error) {
	k := cells[0]
	if len(k) < 3 || k[0] != '`' || k[len(k)-1] != '`' || strings.Count(k, "`") != 2 {
		return Row{}, fmt.Errorf("line %d: first cell %q is not one `key`", line, k)
	}
	return Row{Key: k[1 : len(k)-1], Default: cells[1], Meaning: cells[2], Line: line}, nil
}
