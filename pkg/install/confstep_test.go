package install

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

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
