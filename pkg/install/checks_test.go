package install

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

func enrootCheck(t *testing.T, cfg config.Config, root, name string) verify.Result {
	t.Helper()
	for _, c := range Checks(cfg, config.Root(root)) {
		if c.Name() == name {
			return c.Run(context.Background())
		}
	}
	t.Fatalf("no check %s", name)
	return verify.Result{}
}

func TestEnrootVersionCheck(t *testing.T) {
	root := testenv.NodeRoot(t) // enroot 4.1.2 installed for real with dpkg --root
	cfg := config.Default()
	if r := enrootCheck(t, cfg, root, "enroot-version"); r.Status != verify.OK || r.Message != "enroot 4.1.2 runs" {
		t.Fatalf("%+v", r)
	}
	cfg.Enroot.Version = "4.2.0"
	if r := enrootCheck(t, cfg, root, "enroot-version"); r.Status != verify.Fail || !strings.Contains(r.Message, "enroot 4.1.2 runs here, enroot.version is 4.2.0") {
		t.Fatalf("%+v", r)
	}
	os.Remove(filepath.Join(root, EnrootBinary))
	cfg.Enroot.Install = false
	if r := enrootCheck(t, cfg, root, "enroot-version"); r.Status != verify.Fail || !strings.Contains(r.Fix, "enroot.install is false") {
		t.Fatalf("%+v", r)
	}
}

func TestEnrootConfCheck(t *testing.T) {
	root := t.TempDir()
	cfg := config.Default()
	if r := enrootCheck(t, cfg, root, "enroot-conf"); r.Status != verify.Fail || !strings.Contains(r.Message, "file is missing") {
		t.Fatalf("%+v", r)
	}
	content, err := CheckedConf(context.Background(), MergeConf(cfg.Enroot.Conf, cfg.Credentials.EnrootConfigPath))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, EnrootConfPath)
	testenv.MkdirAll(t, filepath.Dir(path), 0o755)
	testenv.WriteFile(t, path, content, 0o644)
	if r := enrootCheck(t, cfg, root, "enroot-conf"); r.Status != verify.OK {
		t.Fatalf("%+v", r)
	}
	testenv.WriteFile(t, path, []byte(strings.Replace(string(content), "/var/enroot/tmp", "/tmp", 1)), 0o644)
	if r := enrootCheck(t, cfg, root, "enroot-conf"); r.Status != verify.Fail || !strings.Contains(r.Message, "ENROOT_TEMP_PATH") {
		t.Fatalf("%+v", r)
	}
}

func TestEnrootNamespacesCheck(t *testing.T) {
	root := t.TempDir()
	cfg := config.Default()
	if r := enrootCheck(t, cfg, root, "enroot-namespaces"); r.Status != verify.Fail || !strings.Contains(r.Message, "no user namespaces") {
		t.Fatalf("%+v", r)
	}
	proc := filepath.Join(root, "proc/sys/user")
	testenv.MkdirAll(t, proc, 0o755)
	testenv.WriteFile(t, filepath.Join(proc, "max_user_namespaces"), []byte("0\n"), 0o644)
	testenv.WriteFile(t, filepath.Join(proc, "max_mnt_namespaces"), []byte("65536\n"), 0o644)
	if r := enrootCheck(t, cfg, root, "enroot-namespaces"); r.Status != verify.Fail || !strings.Contains(r.Message, "user.max_user_namespaces is 0") {
		t.Fatalf("%+v", r)
	}
	testenv.WriteFile(t, filepath.Join(proc, "max_user_namespaces"), []byte("1024\n"), 0o644)
	if r := enrootCheck(t, cfg, root, "enroot-namespaces"); r.Status != verify.OK || !strings.Contains(r.Message, "user.max_user_namespaces=1024") {
		t.Fatalf("%+v", r)
	}
}

func TestEnrootPinnedCheck(t *testing.T) {
	root := t.TempDir()
	cfg := config.Default()
	if r := enrootCheck(t, cfg, root, "enroot-pinned"); r.Status != verify.OK {
		t.Fatalf("%+v", r)
	}
	path := filepath.Join(root, cfg.StateDir, RecordFile)
	testenv.MkdirAll(t, filepath.Dir(path), 0o700)
	rec := Record{Version: "4.1.2", Files: []FileRecord{
		{Name: "enroot_4.1.2-1_amd64.deb", SHA256: strings.Repeat("a", 64), PinnedBy: "config"},
		{Name: "enroot+caps_4.1.2-1_amd64.deb", SHA256: strings.Repeat("b", 64)},
	}}
	if err := WriteRecord(path, rec); err != nil {
		t.Fatal(err)
	}
	r := enrootCheck(t, cfg, root, "enroot-pinned")
	if r.Status != verify.OK || !strings.HasPrefix(r.Message, "unpinned: ") || !strings.Contains(r.Message, "enroot+caps_4.1.2-1_amd64.deb") ||
		strings.Contains(r.Message, "enroot_4.1.2") || !strings.Contains(r.Fix, "enroot.checksums") {
		t.Fatalf("%+v", r)
	}
	rec.Files[1].PinnedBy = "SHA256SUMS"
	WriteRecord(path, rec)
	if r := enrootCheck(t, cfg, root, "enroot-pinned"); r.Status != verify.OK || r.Fix != "" || !strings.Contains(r.Message, "verified") {
		t.Fatalf("%+v", r)
	}
}

func TestEnrootUserDirsCheck(t *testing.T) {
	root := t.TempDir()
	cfg := config.Default()
	if r := enrootCheck(t, cfg, root, "enroot-user-dirs"); r.Status != verify.OK {
		t.Fatalf("%+v", r)
	}
	p := filepath.Join(root, "run/enroot/user-4242")
	testenv.MkdirAll(t, p, 0o700)
	if r := enrootCheck(t, cfg, root, "enroot-user-dirs"); r.Status != verify.Fail || !strings.Contains(r.Message, "/run/enroot/user-4242 (owner uid") {
		t.Fatalf("%+v", r)
	}
}

func TestEnrootAppArmorRestriction(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"proc/sys/user/max_user_namespaces", "proc/sys/user/max_mnt_namespaces"} {
		testenv.MkdirAll(t, filepath.Join(root, filepath.Dir(f)), 0o755)
		testenv.WriteFile(t, filepath.Join(root, f), []byte("65536\n"), 0o644)
	}
	restrict := filepath.Join(root, "proc/sys/kernel/apparmor_restrict_unprivileged_userns")
	testenv.MkdirAll(t, filepath.Dir(restrict), 0o755)
	testenv.WriteFile(t, restrict, []byte("1\n"), 0o644)
	cfg := config.Default()
	if r := enrootCheck(t, cfg, root, "enroot-namespaces"); r.Status != verify.Fail || !strings.Contains(r.Message, "apparmor_restrict_unprivileged_userns=1") {
		t.Fatalf("%+v", r)
	}
	testenv.MkdirAll(t, filepath.Join(root, "etc/apparmor.d"), 0o755)
	testenv.WriteFile(t, filepath.Join(root, "etc/apparmor.d/enroot"), []byte("profile enroot {}\n"), 0o644)
	if r := enrootCheck(t, cfg, root, "enroot-namespaces"); r.Status != verify.OK {
		t.Fatalf("%+v", r)
	}
}
