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

	"github.com/enroot-agent/enroot-agent/internal/fake/host"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
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

func run(t *testing.T, steps ...converge.Step) converge.Report {
	t.Helper()
	rep := (&converge.Runner{Log: zap.NewNop()}).Run(context.Background(), steps)
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestConfStepBacksUpOnceAndOverwritesEdits(t *testing.T) {
	root := t.TempDir()
	core, logs := observer.New(zap.InfoLevel)
	node := &Node{Root: config.Root(root), Log: zap.New(core)}
	conf := MergeConf(nil, "")
	step := &ConfStep{Node: node, Conf: conf}
	path := filepath.Join(root, EnrootConfPath)

	// No enroot yet: /etc/enroot is created and no backup is made.
	run(t, step)
	if _, err := os.Stat(path + BackupSuffix); !os.IsNotExist(err) {
		t.Fatal("backup made of nothing")
	}
	want, _ := os.ReadFile(path)

	// An admin edit is overwritten; the edited file is kept as the backup.
	testenv.WriteFile(t, path, []byte("ENROOT_CACHE_PATH /tmp/shared\n"), 0o644)
	plan, err := step.Plan(context.Background())
	if err != nil || plan.Changes[0].Action != "backup" || !strings.Contains(plan.Reason, "ENROOT_CACHE_PATH") {
		t.Fatalf("plan %+v %v", plan, err)
	}
	run(t, step)
	if got, _ := os.ReadFile(path); string(got) != string(want) {
		t.Fatalf("edit not overwritten:\n%s", got)
	}
	if b, _ := os.ReadFile(path + BackupSuffix); string(b) != "ENROOT_CACHE_PATH /tmp/shared\n" {
		t.Fatalf("backup %q", b)
	}
	if logs.FilterMessageSnippet("replacing enroot.conf").Len() != 1 {
		t.Fatalf("overwrite not logged: %v", logs.All())
	}

	// A second edit is overwritten too, but the first backup stays.
	testenv.WriteFile(t, path, []byte("ENROOT_CACHE_PATH /tmp/again\n"), 0o644)
	run(t, step)
	if b, _ := os.ReadFile(path + BackupSuffix); string(b) != "ENROOT_CACHE_PATH /tmp/shared\n" {
		t.Fatalf("backup replaced: %q", b)
	}
	if rep := run(t, step); rep.Results[0].Outcome != converge.Done {
		t.Fatalf("third run: %s", rep.Results[0].Outcome)
	}
}

func TestDirsStepModes(t *testing.T) {
	root := t.TempDir()
	node := &Node{Root: config.Root(root), Log: zap.NewNop()}
	step := &DirsStep{Node: node, Conf: MergeConf(nil, "")}
	run(t, step)
	for _, d := range []string{"/run/enroot", "/run/enroot/data", "/var/enroot/cache", "/var/enroot/tmp"} {
		st, err := os.Stat(filepath.Join(root, d))
		if err != nil || st.Mode()&os.ModePerm != 0o777 || st.Mode()&os.ModeSticky == 0 {
			t.Errorf("%s: %v %v", d, st.Mode(), err)
		}
	}
	os.Chmod(filepath.Join(root, "var/enroot/tmp"), 0o777) // sticky bit lost
	if rep := run(t, step); rep.Results[0].Outcome != converge.Changed {
		t.Fatal("mode drift not repaired")
	}
}

func TestTmpfilesStep(t *testing.T) {
	root := t.TempDir()
	step := TmpfilesStep(&Node{Root: config.Root(root), Log: zap.NewNop()}, MergeConf(nil, ""))
	run(t, step)
	got, _ := os.ReadFile(filepath.Join(root, TmpfilesPath))
	if !strings.Contains(string(got), "d /run/enroot 1777 root root -\nd /run/enroot/data 1777 root root -\n") {
		t.Fatalf("%s", got)
	}
	if out, err := exec.Command("systemd-tmpfiles", "--root="+root, "--create", filepath.Join(root, TmpfilesPath)).CombinedOutput(); err != nil {
		t.Fatalf("systemd-tmpfiles rejects it: %v %s", err, out)
	}
	if st, err := os.Stat(filepath.Join(root, "var/enroot/tmp")); err != nil || st.Mode()&os.ModeSticky == 0 {
		t.Fatalf("systemd-tmpfiles did not make the directory: %v", err)
	}
}

func TestSysctlStep(t *testing.T) {
	root := t.TempDir()
	proc := filepath.Join(root, "proc/sys/user")
	testenv.MkdirAll(t, proc, 0o755)
	testenv.WriteFile(t, filepath.Join(proc, "max_user_namespaces"), []byte("0\n"), 0o644)
	testenv.WriteFile(t, filepath.Join(proc, "max_mnt_namespaces"), []byte("254000\n"), 0o644)
	step := &SysctlStep{Node: &Node{Root: config.Root(root), Log: zap.NewNop()}}
	run(t, step)
	if b, _ := os.ReadFile(filepath.Join(proc, "max_user_namespaces")); strings.TrimSpace(string(b)) != "65536" {
		t.Fatalf("max_user_namespaces = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(proc, "max_mnt_namespaces")); strings.TrimSpace(string(b)) != "254000" {
		t.Fatalf("a higher live value was lowered: %q", b)
	}
	dropin, _ := os.ReadFile(filepath.Join(root, SysctlFile))
	if !strings.Contains(string(dropin), "user.max_user_namespaces = 65536\nuser.max_mnt_namespaces = 65536\n") {
		t.Fatalf("drop-in %q", dropin)
	}
	if rep := run(t, step); rep.Results[0].Outcome != converge.Done {
		t.Fatal("second run not done")
	}
}

// On an EFA node the rendered enroot.conf never restricts /dev, even when
// the config asks for it (logged), and the enroot-conf check agrees with
// the step; on a node without EFA enroot.conf is exactly the config's.
func TestConfStepKeepsEFADevicesVisible(t *testing.T) {
	for _, tc := range []struct {
		name     string
		efa      bool
		mlx      bool
		set      string // enroot.conf.ENROOT_RESTRICT_DEV in the config
		want     string // its line in enroot.conf, "" for none
		warnings int
	}{
		{name: "no EFA", want: ""},
		{name: "no EFA, the config restricts", set: "yes", want: "ENROOT_RESTRICT_DEV yes"},
		{name: "a Mellanox adapter only", mlx: true, want: ""},
		{name: "EFA", efa: true, want: "ENROOT_RESTRICT_DEV no"},
		{name: "EFA, the config restricts", efa: true, set: "y", want: "ENROOT_RESTRICT_DEV no", warnings: 1},
		{name: "EFA, the config says no", efa: true, set: "false", want: "ENROOT_RESTRICT_DEV no"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.efa {
				if err := host.FakeEFA(root, 4); err != nil {
					t.Fatal(err)
				}
			}
			if tc.mlx {
				if err := host.FakeVerbs(root, "uverbs0", "0000:a0:00.0", "mlx5_core"); err != nil {
					t.Fatal(err)
				}
			}
			overrides := map[string]string{}
			if tc.set != "" {
				overrides["ENROOT_RESTRICT_DEV"] = tc.set
			}
			cfg := config.Default()
			cfg.Enroot.Conf = overrides
			core, logs := observer.New(zap.WarnLevel)
			step := &ConfStep{Node: &Node{Root: config.Root(root), Log: zap.New(core)}, Conf: MergeConf(overrides, cfg.Credentials.EnrootConfigPath)}
			run(t, step)
			data, err := os.ReadFile(filepath.Join(root, EnrootConfPath))
			if err != nil {
				t.Fatal(err)
			}
			var got string
			for _, line := range strings.Split(string(data), "\n") {
				if strings.HasPrefix(line, "ENROOT_RESTRICT_DEV") {
					got = line
				}
			}
			if got != tc.want {
				t.Fatalf("enroot.conf has %q, want %q:\n%s", got, tc.want, data)
			}
			if n := logs.FilterMessageSnippet("EFA devices").Len(); n != tc.warnings {
				t.Fatalf("%d warnings, want %d: %v", n, tc.warnings, logs.All())
			}
			if r := enrootConf(context.Background(), cfg, config.Root(root)); r.Status != verify.OK {
				t.Fatalf("enroot-conf check disagrees with the step: %+v", r)
			}
		})
	}
}
