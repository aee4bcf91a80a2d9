package artifact

import (
	"strings"
	"testing"
)

func TestParseSums(t *testing.T) {
	a, b := strings.Repeat("a", 64), strings.Repeat("B", 64)
	got, err := ParseSums("# release 4.1.2\n" + a + "  enroot.rpm\r\n\n" + b + " *dist/enroot.deb\n")
	if err != nil || got["enroot.rpm"] != a || got["enroot.deb"] != strings.ToLower(b) || len(got) != 2 {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"abc  x\n", a + "\n", a + "  x\n" + strings.Repeat("c", 64) + "  x\n"} {
		if _, err := ParseSums(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := ParseSums("ok\n" + "zz"); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("line number missing: %v", err)
	}
}

func FuzzParseSums(f *testing.F) {
	f.Add(strings.Repeat("a", 64) + "  enroot.rpm\n")
	f.Add("# c\n\n" + strings.Repeat("0", 64) + " *a/b\n")
	f.Fuzz(func(t *testing.T, in string) {
		sums, err := ParseSums(in)
		if err != nil {
			return
		}
		for name, d := range sums {
			if name == "" || strings.Contains(name, "/") || !isHexDigest(d) {
				t.Fatalf("bad entry %q=%q from %q", name, d, in)
			}
		}
	})
}
