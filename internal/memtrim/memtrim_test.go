package memtrim

import (
	"strings"
	"testing"
)

const maps = `00400000-00c84000 r-xp 00000000 fe:00 9979121                            /usr/libexec/enroot-agent/enroot-agent
00c84000-0155b000 r--p 00884000 fe:00 9979121                            /usr/libexec/enroot-agent/enroot-agent
0155b000-015cf000 rw-p 0115b000 fe:00 9979121                            /usr/libexec/enroot-agent/enroot-agent
015cf000-03623000 rw-p 00000000 00:00 0 
266060400000-266061000000 rw-p 00000000 00:00 0 
7f0000000000-7f0000001000 r--s 00000000 fe:00 42                         /usr/libexec/enroot-agent/enroot-agent
7f0000002000-7f0000003000 r--p 00000000 fe:00 43                         /srv/my agent/enroot-agent (deleted)
7ffd0e1cf000-7ffd0e1f0000 rw-p 00000000 00:00 0                          [stack]
7fca08781000-7fca08783000 r-xp 00000000 00:00 0                          [vdso]
`

func TestParseMaps(t *testing.T) {
	got, err := ParseMaps(maps)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 9 {
		t.Fatalf("%d mappings, want 9", len(got))
	}
	if m := got[0]; m.Start != 0x400000 || m.End != 0xc84000 || m.Perms != "r-xp" || m.Path != "/usr/libexec/enroot-agent/enroot-agent" {
		t.Fatalf("first: %+v", m)
	}
	if got[3].Path != "" || got[7].Path != "[stack]" {
		t.Fatalf("anonymous %q, stack %q", got[3].Path, got[7].Path)
	}
	if p := got[6].Path; p != "/srv/my agent/enroot-agent (deleted)" {
		t.Fatalf("a path with a space, replaced: %q", p)
	}
	for _, bad := range []string{"00400000 r-xp 0 fe:00 1 /x", "00c84000-00400000 r-xp 0 fe:00 1 /x", "0040000g-00c84000 r-xp 0 fe:00 1 /x", "00400000-00c84000 r-xp"} {
		if _, err := ParseMaps(bad); err == nil || !strings.Contains(err.Error(), "maps line 1") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// Only the executable's private, read-only mappings: never its writable
// data (whose pages differ from the file), a shared mapping, another file.
func TestCleanKeepsOnlyTheExecutablesReadOnlyPages(t *testing.T) {
	all, err := ParseMaps(maps)
	if err != nil {
		t.Fatal(err)
	}
	got := Clean(all, "/usr/libexec/enroot-agent/enroot-agent")
	if len(got) != 2 || got[0].Perms != "r-xp" || got[1].Perms != "r--p" || got[1].Start != 0xc84000 {
		t.Fatalf("%+v", got)
	}
	if got := Clean(all, "/srv/my agent/enroot-agent (deleted)"); len(got) != 1 || got[0].Start != 0x7f0000002000 {
		t.Fatalf("replaced binary: %+v", got)
	}
}

// Trim on this test binary: its file-backed pages leave the process, which
// runs on (faulting back what it uses).
func TestTrimDropsTheExecutablesPages(t *testing.T) {
	r, err := Trim()
	if err != nil {
		t.Fatal(err)
	}
	if r.Advised == 0 || r.FileBefore == 0 {
		t.Fatalf("nothing to trim: %+v", r)
	}
	if r.FileAfter >= r.FileBefore {
		t.Fatalf("RssFile %d kB before, %d kB after", r.FileBefore>>10, r.FileAfter>>10)
	}
	t.Logf("RssFile %d → %d kB, RssAnon %d → %d kB, %d kB advised", r.FileBefore>>10, r.FileAfter>>10, r.AnonBefore>>10, r.AnonAfter>>10, r.Advised>>10)
	if again, err := Trim(); err != nil || again.Advised != r.Advised {
		t.Fatalf("second trim: %+v %v", again, err)
	}
}
