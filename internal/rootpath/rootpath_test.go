package rootpath

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// Every way a user could swap a directory is refused, naming the component
// and the reason; root's own paths, root's symlinks and missing tails pass.
func TestCheck(t *testing.T) {
	base := testenv.RootOnlyDir(t)
	mk := func(rel string, mode os.FileMode, uid, gid int) {
		t.Helper()
		p := filepath.Join(base, rel)
		testenv.MkdirAll(t, p, 0o755)
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	mk("user", 0o755, 65534, 65534)
	mk("fsx", os.ModeSticky|0o777, 0, 0)
	mk("fsx/enroot-agent", 0o755, 0, 0)
	mk("grp", 0o775, 0, 100)
	mk("rootgrp", 0o775, 0, 0)
	mk("ok", 0o755, 0, 0)
	testenv.WriteFile(t, filepath.Join(base, "file"), nil, 0o644)
	link := func(name, target string, uid int) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(base, name)); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(filepath.Join(base, name), uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	link("rootlink", filepath.Join(base, "ok"), 0)
	link("rellink", "ok", 0)
	link("userlink", filepath.Join(base, "ok"), 65534)
	link("tofsx", filepath.Join(base, "fsx", "enroot-agent"), 0)
	link("loop", "loop", 0)
	for rel, want := range map[string]string{
		"user/x":             "user is owned by uid 65534, not root",
		"fsx/enroot-agent/x": "fsx is writable by every user (mode 1777)",
		"tofsx/x":            "fsx is writable by every user (mode 1777)",
		"grp/x":              "grp is writable by group 100 (mode 0775)",
		"userlink/x":         "userlink is a symlink owned by uid 65534",
		"file/x":             "file is not a directory",
		"loop/x":             "more than 40 symlinks",
		"rootgrp/x":          "",
		"rootlink/x":         "",
		"rellink/new/x":      "",
		"ok":                 "",
		"ok/new/newer":       "",
	} {
		err := Check(filepath.Join(base, rel))
		var e *Error
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v, want it trusted", rel, err)
		case want != "" && (!errors.As(err, &e) || !strings.HasSuffix(err.Error(), want) && !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want an *Error saying %q", rel, err, want)
		}
	}
	if err := Check("relative/path"); err == nil {
		t.Error("a relative path was trusted")
	}
	// Under the sticky /tmp nothing is trusted.
	if err := Check(filepath.Join(t.TempDir(), "x")); err == nil {
		t.Error("a path under /tmp was trusted")
	}
}

func TestCheckFile(t *testing.T) {
	dir := testenv.RootOnlyDir(t)
	for name, c := range map[string]struct {
		mode     os.FileMode
		uid, gid int
		want     string
	}{
		"ok":      {0o644, 0, 0, ""},
		"rootgrp": {0o664, 0, 0, ""},
		"user":    {0o644, 65534, 65534, "owned by uid 65534"},
		"world":   {0o666, 0, 0, "writable by every user"},
		"group":   {0o664, 0, 100, "writable by group 100"},
	} {
		p := filepath.Join(dir, name)
		testenv.WriteFile(t, p, []byte("x"), c.mode)
		_ = os.Chmod(p, c.mode)
		if err := os.Chown(p, c.uid, c.gid); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		err = CheckFile(f)
		f.Close()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}
