package install

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		testenv.WriteFile(t, path, got, 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestRenderGolden(t *testing.T) {
	cases := map[string]map[string]string{
		"enroot.conf.default.golden": MergeConf(nil, "/run/enroot-agent/enroot-config"),
		"enroot.conf.custom.golden": MergeConf(map[string]string{
			"ENROOT_CACHE_PATH":          "/scratch/enroot/cache/user-$(id -u)",
			"ENROOT_TEMP_PATH":           "",
			"ENROOT_SQUASH_OPTIONS":      "-comp zstd -Xcompression-level 3",
			"https_proxy":                "http://proxy.internal:3128",
			"NVIDIA_DRIVER_CAPABILITIES": "compute,utility",
		}, ""),
	}
	for name, conf := range cases {
		got, err := CheckedConf(context.Background(), conf)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		golden(t, name, got)
		// Enroot checks the file with bash -n before reading it; so do we.
		cmd := exec.Command("bash", "-n", filepath.Join("testdata", name))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s fails bash -n: %v %s", name, err, out)
		}
	}
}

func TestRenderRejectsBadShell(t *testing.T) {
	_, err := CheckedConf(context.Background(), MergeConf(map[string]string{"ENROOT_DATA_PATH": "/data/$(id -u"}, ""))
	if err == nil || !strings.Contains(err.Error(), "enroot.conf.ENROOT_DATA_PATH") || !strings.Contains(err.Error(), "bash -n") {
		t.Fatalf("err = %v", err)
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

func TestParseConf(t *testing.T) {
	in := "# comment\n  ENROOT_RUNTIME_PATH  /run/x\nENROOT_CACHE_PATH=/c  \nENROOT_CACHE_PATH /second\n\tENROOT_DATA_PATH = ${HOME}/d\nHTTPS_PROXY http://p\nhttps_proxy\n"
	got := ParseConf(in)
	want := []ConfEntry{
		{1, "#", "comment", false},
		{2, "ENROOT_RUNTIME_PATH", "/run/x", true},
		{3, "ENROOT_CACHE_PATH", "/c", true},
		{4, "ENROOT_CACHE_PATH", "/second", true},
		{5, "ENROOT_DATA_PATH", "${HOME}/d", true},
		{6, "HTTPS_PROXY", "http://p", false},
		{7, "https_proxy", "", true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	eff := EffectiveConf(got)
	if eff["ENROOT_CACHE_PATH"] != "/c" || len(eff) != 4 {
		t.Fatalf("first value must win: %v", eff)
	}
	if d := DiffConf(in, "ENROOT_RUNTIME_PATH /run/x\nENROOT_CACHE_PATH /c\nENROOT_TEMP_PATH /t\n"); !reflect.DeepEqual(d, []string{"ENROOT_DATA_PATH", "ENROOT_TEMP_PATH", "https_proxy"}) {
		t.Fatalf("diff %q", d)
	}
}

func FuzzParseConf(f *testing.F) {
	f.Add("ENROOT_RUNTIME_PATH /run/enroot/user-$(id -u)\n#x\n")
	f.Add("  a=b=c\t\n\n=\n")
	f.Fuzz(func(t *testing.T, in string) {
		entries := ParseConf(in)
		lines := strings.Count(in, "\n") + 1
		for _, e := range entries {
			if e.Key == "" || strings.ContainsAny(e.Key, " \t=\n") || e.Line < 1 || e.Line > lines {
				t.Fatalf("bad entry %+v from %q", e, in)
			}
		}
		// Rendering what enroot would read and reading it back is stable.
		var b strings.Builder
		for _, e := range entries {
			if e.Known && !strings.ContainsAny(e.Value, "\n") {
				b.WriteString(e.Key + " " + e.Value + "\n")
			}
		}
		again := EffectiveConf(ParseConf(b.String()))
		for k, v := range EffectiveConf(entries) {
			if strings.Trim(v, " \t") == v && again[k] != v && !strings.HasPrefix(v, "=") {
				t.Fatalf("%s: %q read back as %q", k, v, again[k])
			}
		}
	})
}
