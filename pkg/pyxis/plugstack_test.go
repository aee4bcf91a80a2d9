package pyxis

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
)

func TestParse(t *testing.T) {
	in := "# admin's plugins\n" +
		"\n" +
		"required /usr/lib/slurm/x11.so\n" +
		"optional\t/opt/spank/lua.so  a=1 b=2 # trailing comment\n" +
		"   include /etc/slurm/plugstack.conf.d/*.conf\n" +
		"include relative/*.conf\n" +
		"requred /typo.so\n" +
		"required\n" +
		"#required /commented.so\n" +
		"required /crlf.so\r\n"
	lines, bad := Parse("/p.conf", []byte(in))
	want := []Line{
		{File: "/p.conf", Num: 3, Kind: Required, Path: "/usr/lib/slurm/x11.so"},
		{File: "/p.conf", Num: 4, Kind: Optional, Path: "/opt/spank/lua.so", Args: []string{"a=1", "b=2"}},
		{File: "/p.conf", Num: 5, Kind: Include, Path: "/etc/slurm/plugstack.conf.d/*.conf"},
		{File: "/p.conf", Num: 6, Kind: Include, Path: "relative/*.conf"},
		// Slurm keeps the '\r': the plugin it names does not exist.
		{File: "/p.conf", Num: 10, Kind: Required, Path: "/crlf.so\r"},
	}
	if !reflect.DeepEqual(lines, want) {
		t.Fatalf("lines:\n%+v\nwant\n%+v", lines, want)
	}
	if len(bad) != 2 || bad[0].Num != 7 || bad[1].Num != 8 {
		t.Fatalf("invalid: %+v", bad)
	}
	if got := bad[0].Error(); got != `/p.conf:7: "requred" is not required, optional or include: "requred /typo.so"` {
		t.Fatalf("invalid message %q", got)
	}
	if got := lines[1].String(); got != "optional /opt/spank/lua.so a=1 b=2" {
		t.Fatalf("String() = %q", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"required /a.so x=1\n", "include *.conf # c\n", "optional\t/b.so\r\n", "#\n\n  \t\n", "include\n", "x y z",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		lines, bad := Parse("f", []byte(in))
		for _, l := range lines {
			if l.Num < 1 || l.Path == "" || strings.ContainsAny(l.Path, " \t\n#") || l.Kind < Required || l.Kind > Include {
				t.Fatalf("bad line %+v from %q", l, in)
			}
			// A parsed line, written back, parses to the same line.
			again, _ := Parse("f", []byte(l.String()))
			if len(again) != 1 || !reflect.DeepEqual(again[0].Args, l.Args) || again[0].Path != l.Path {
				t.Fatalf("round trip of %q: %+v", l.String(), again)
			}
		}
		for _, b := range bad {
			if b.Num < 1 || b.Msg == "" {
				t.Fatalf("bad invalid %+v", b)
			}
		}
	})
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWalkFollowsIncludesLikeSlurm(t *testing.T) {
	root := t.TempDir()
	r := config.Root(root)
	write(t, root+"/etc/plugstack.conf", "required /a.so\ninclude /etc/plugstack.conf.d/*.conf\ninclude sub/*\ninclude /nowhere/*.conf\n")
	write(t, root+"/etc/plugstack.conf.d/20-b.conf", "optional /b.so\n")
	write(t, root+"/etc/plugstack.conf.d/10-pyxis.conf", "required /usr/local/lib/slurm/spank_pyxis.so\n")
	// None of these may be read: a dot file, a temp file, a non-.conf file.
	write(t, root+"/etc/plugstack.conf.d/.pyxis.conf.tmp-1a2b", "required /tmp.so\n")
	write(t, root+"/etc/plugstack.conf.d/.hidden.conf", "required /hidden.so\n")
	write(t, root+"/etc/plugstack.conf.d/pyxis.conf.rpmsave", "required /old.so\n")
	write(t, root+"/etc/sub/c", "required /c.so\n")
	write(t, root+"/etc/sub/.sedXYZ", "required /sed.so\n")
	testenv.MkdirAll(t, root+"/etc/sub/d", 0o755) // a directory the glob matches reads as empty
	s, err := Walk(r, "/etc/plugstack.conf")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range s.Lines {
		got = append(got, l.Where()+" "+l.Path)
	}
	want := []string{
		"/etc/plugstack.conf:1 /a.so",
		"/etc/plugstack.conf.d/10-pyxis.conf:1 /usr/local/lib/slurm/spank_pyxis.so",
		"/etc/plugstack.conf.d/20-b.conf:1 /b.so",
		"/etc/sub/c:1 /c.so",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("loaded:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if p := s.Plugins("spank_pyxis.so"); len(p) != 1 || p[0].File != "/etc/plugstack.conf.d/10-pyxis.conf" {
		t.Fatalf("Plugins: %+v", p)
	}
	if !slices.Contains(s.Files, "/etc/plugstack.conf.d/20-b.conf") || slices.Contains(s.Files, "/etc/plugstack.conf.d/.hidden.conf") {
		t.Fatalf("files read: %v", s.Files)
	}
}

func TestWalkMissingAndLoops(t *testing.T) {
	root := t.TempDir()
	s, err := Walk(config.Root(root), "/etc/plugstack.conf")
	if err != nil || len(s.Files) != 0 {
		t.Fatalf("a missing plugstack is an empty one: %+v %v", s, err)
	}
	write(t, root+"/etc/plugstack.conf", "include plugstack.conf\n")
	s, err = Walk(config.Root(root), "/etc/plugstack.conf")
	if err != nil || len(s.Problems) != 1 || !strings.Contains(s.Problems[0], "include loop") {
		t.Fatalf("loop: %+v %v", s.Problems, err)
	}
}
