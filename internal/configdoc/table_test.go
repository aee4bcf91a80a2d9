package configdoc

import (
	"strings"
	"testing"
)

const readme = "# x\n\n## Configuration\n\nprose | with a pipe\n\n" +
	"| key | default | meaning |\n|---|---|---|\n" +
	"| `a.b` | `true` | first |\n" +
	"| `c[].d` | `\"\"` | has a \\| pipe |\n" +
	"\nafter\n| `not.a.row` | x | y |\n## Next\n"

func TestParseTable(t *testing.T) {
	rows, err := ParseTable(readme, "## Configuration")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Key != "a.b" || rows[0].Line != 9 || rows[1].Key != "c[].d" || rows[1].Meaning != "has a | pipe" {
		t.Fatalf("rows = %+v", rows)
	}
}

func TestParseTableErrors(t *testing.T) {
	for in, want := range map[string]string{
		"## Other\n":                        `no "## Configuration" heading`,
		"## Configuration\ntext\n## Next\n": `no table with a "key" column`,
		"## Configuration\n| key | d | m |\n| a | b | c |\n": "line 3: first cell \"a\" is not one `key`",
		"## Configuration\n| key | d | m |\n| `a` | b |\n":   "line 3: 2 cells, want 3",
	} {
		_, err := ParseTable(in, "## Configuration")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", in, err, want)
		}
	}
}

func TestUncomment(t *testing.T) {
	in := "# explanation: not a key\n#a:\n#  b: 1\n  # nested explanation\n#  c: [x]\n#    d: 2\n#   e: odd\n##f: 3\n"
	want := "a:\n  b: 1\n  c: [x]\n    d: 2\n"
	if got := Uncomment(in); got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

func FuzzParseTable(f *testing.F) {
	f.Add(readme)
	f.Add("## Configuration\n| key | d | m |\n|`|`|`|\n")
	f.Fuzz(func(t *testing.T, md string) {
		rows, err := ParseTable(md, "## Configuration")
		for _, r := range rows {
			if err == nil && (r.Key == "" || strings.Contains(r.Key, "`")) {
				t.Fatalf("bad key %q from %q", r.Key, md)
			}
		}
	})
}

func TestCommentWraps(t *testing.T) {
	var b strings.Builder
	comment(&b, "  ", "  key: "+strings.Repeat("word ", 30))
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "  #   key: word") || !strings.HasPrefix(lines[1], "  #     word") {
		t.Fatalf("wrapped:\n%s", b.String())
	}
	for _, l := range lines {
		if len(l) > width {
			t.Errorf("%d columns: %q", len(l), l)
		}
	}
}

// Uncomment only ever keeps a line's text after its leading "#".
func FuzzUncomment(f *testing.F) {
	f.Add("# text\n#a:\n#  b: 1\n  # x\n")
	f.Add("#\n##\n# \n#  \n")
	f.Fuzz(func(t *testing.T, in string) {
		kept := map[string]bool{}
		for _, l := range strings.Split(in, "\n") {
			if strings.HasPrefix(l, "#") {
				kept[l[1:]] = true
			}
		}
		for _, l := range strings.Split(strings.TrimSuffix(Uncomment(in), "\n"), "\n") {
			if l != "" && !kept[l] {
				t.Fatalf("%q is not an uncommented input line of %q", l, in)
			}
		}
	})
}
