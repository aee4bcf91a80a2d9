package install

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
)

func TestSquattedDirs(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("run as root: the test chowns directories to other uids")
	}
	root := t.TempDir()
	conf := MergeConf(nil, "")
	for dir, uid := range map[string]int{"run/enroot/user-1001": 1001, "run/enroot/user-1002": 1003, "run/enroot/data/user-0": 0} {
		p := filepath.Join(root, dir)
		testenv.MkdirAll(t, p, 0o700)
		os.Chown(p, uid, uid)
	}
	testenv.MkdirAll(t, filepath.Join(root, "var/enroot/cache"), 0o1777)
	os.Symlink("/etc", filepath.Join(root, "var/enroot/cache/user-0"))
	bad, err := SquattedDirs(config.Root(root), conf)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(bad, "; ")
	if len(bad) != 2 || !strings.Contains(got, "/run/enroot/user-1002 (owner uid 1003)") || !strings.Contains(got, "/var/enroot/cache/user-0") {
		t.Fatalf("got %q", bad)
	}
}

func TestConfDirs(t *testing.T) {
	got := ConfDirs(map[string]string{
		"ENROOT_RUNTIME_PATH": "/run/enroot/user-$(id -u)",
		"ENROOT_DATA_PATH":    "/run/enroot/data/user-${UID}",
		"ENROOT_CACHE_PATH":   "${HOME}/.cache/enroot",
		"ENROOT_TEMP_PATH":    "/var/enroot/tmp/",
		"ENROOT_CONFIG_PATH":  "/run/enroot-agent/enroot-config",
	})
	if want := []string{"/run/enroot", "/run/enroot/data", "/var/enroot/tmp"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
	for v, want := range map[string]string{"/$(id -u)": "", "relative/x": "", "/a/b c": "/a", "/x/`id -u`/y": "/x", "/": ""} {
		if got := staticDir(v); got != want {
			t.Errorf("staticDir(%q) = %q, want %q", v, got, want)
		}
	}
}
