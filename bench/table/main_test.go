package main

import (
	"strings"
	"testing"
)

func TestTableMedians(t *testing.T) {
	in := `goos: linux
BenchmarkFleetSpread-2   	       1	 192534596 ns/op	         7.000 peak_calls/1s_window
BenchmarkFleetSpread-2   	       1	 100000000 ns/op	         5.000 peak_calls/1s_window
BenchmarkFleetSpread-2   	       1	 300000000 ns/op	         6.000 peak_calls/1s_window
PASS
`
	var out, echo strings.Builder
	if err := run(strings.NewReader(in), &out, &echo); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| FleetSpread | ns/op | 1.925e+08 | 1e+08 | 3e+08 | 3 |", "| FleetSpread | peak_calls/1s_window | 6 | 5 | 7 | 3 |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in:\n%s", want, out.String())
		}
	}
	if err := run(strings.NewReader("--- FAIL: BenchmarkX\nFAIL\n"), &out, &echo); err == nil {
		t.Error("a failed benchmark must fail the table")
	}
}
