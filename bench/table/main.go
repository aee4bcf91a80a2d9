// Command table reads `go test -bench` output on stdin and prints, per
// benchmark and metric, the median over the runs (-count) with min and max,
// as a Markdown table. Benchmark lines pass through to stderr as they come.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

func main() {
	if err := run(os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "table:", err)
		os.Exit(1)
	}
}

type key struct{ bench, unit string }

func run(in io.Reader, out, echo io.Writer) error {
	vals := map[key][]float64{}
	var order []key
	failed := false
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(echo, line)
		if strings.HasPrefix(line, "FAIL") || strings.HasPrefix(line, "--- FAIL") {
			failed = true
		}
		for _, m := range parse(line) {
			k := key{m.bench, m.unit}
			if _, seen := vals[k]; !seen {
				order = append(order, k)
			}
			vals[k] = append(vals[k], m.val)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	fmt.Fprintln(out, "| benchmark | metric | median | min | max | runs |")
	fmt.Fprintln(out, "|---|---|---:|---:|---:|---:|")
	for _, k := range order {
		v := vals[k]
		slices.Sort(v)
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %d |\n", k.bench, k.unit, num(median(v)), num(v[0]), num(v[len(v)-1]), len(v))
	}
	if failed {
		return fmt.Errorf("a benchmark failed (see above)")
	}
	return nil
}

type metric struct {
	bench, unit string
	val         float64
}

// parse reads "BenchmarkX-2  <n>  <v> <unit>  <v> <unit> ...".
func parse(line string) []metric {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
		return nil
	}
	name := f[0]
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		name = name[:i]
	}
	var out []metric
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return out
		}
		out = append(out, metric{strings.TrimPrefix(name, "Benchmark"), f[i+1], v})
	}
	return out
}

func median(v []float64) float64 {
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }
