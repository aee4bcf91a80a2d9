package slurm

import (
	"strings"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	line := "4242 (slurmd) S 1 4242 4242 0 -1 4194624 1514 0 0 0 3 5 0 0 20 0 2 0 123456 232620032 1794 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n"
	if comm, start, ok := ParseProcStat(line); !ok || comm != "slurmd" || start != 123456 {
		t.Fatalf("%q %d %v", comm, start, ok)
	}
	odd := "77 (a) b (c)) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 999 20\n"
	if comm, start, ok := ParseProcStat(odd); !ok || comm != "a) b (c)" || start != 999 {
		t.Fatalf("odd name: %q %d %v", comm, start, ok)
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 1 2"} {
		if _, _, ok := ParseProcStat(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
	if b, ok := ParseBootTime("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n"); !ok || b.Unix() != 1700000000 {
		t.Fatalf("btime %v %v", b, ok)
	}
}

func FuzzParseProcStat(f *testing.F) {
	f.Add("4242 (slurmd) S 1 4242 4242 0 -1 4194624 1514 0 0 0 3 5 0 0 20 0 2 0 123456 232620032\n")
	f.Add("1 ((x) R")
	f.Fuzz(func(t *testing.T, line string) {
		comm, _, ok := ParseProcStat(line)
		if ok && !strings.Contains(line, "("+comm+")") {
			t.Fatalf("name %q is not between the parentheses of %q", comm, line)
		}
	})
}
