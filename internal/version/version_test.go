package version

import "testing"

func TestParse(t *testing.T) {
	for in, want := range map[string]V{"4.1.2": {4, 1, 2}, "0.24": {0, 24, 0}, "10.0.0": {10, 0, 0}} {
		if got, ok := Parse(in); !ok || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "4", "4.1.2.3", "4.x.2", "-1.0.0", "v4.1.2"} {
		if _, ok := Parse(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
	if !(V{3, 4, 1}).Less(V{3, 5, 0}) || (V{3, 5, 0}).Less(V{3, 5, 0}) || (V{4, 0, 0}).Less(V{3, 9, 9}) {
		t.Fatal("Less")
	}
	if (V{0, 21, 0}).String() != "0.21.0" {
		t.Fatal("String")
	}
}

func TestCompare(t *testing.T) {
	cases := []struct {
		a, b string
		sign int
	}{
		{"4.1.2", "4.1.2", 0}, {"4.1.2", "4.1.10", -1}, {"4.2", "4.1.9", 1},
		{"3.4.1", "4.1.2", -1}, {"4.1.2.1", "4.1.2", 1}, {"4.1", "4.1.0", 0}, {"none", "0", 0},
	}
	for _, c := range cases {
		got := Compare(c.a, c.b)
		if got > 0 && c.sign <= 0 || got < 0 && c.sign >= 0 || got == 0 && c.sign != 0 {
			t.Errorf("Compare(%q, %q) = %d, want sign %d", c.a, c.b, got, c.sign)
		}
	}
}
