package slurm

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// put writes a file of a fake node root, with its parents.
func put(t *testing.T, root, path, data string) {
	t.Helper()
	p := filepath.Join(root, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Slurm's own slurmd.service (etc/slurmd.service.in, 24.11), as installed.
const upstreamUnit = `[Unit]
Description=Slurm node daemon
After=munge.service network-online.target remote-fs.target sssd.service

[Service]
Type=notify
EnvironmentFile=-/etc/sysconfig/slurmd
EnvironmentFile=-/etc/default/slurmd
ExecStart=/opt/slurm/sbin/slurmd --systemd $SLURMD_OPTIONS
KillMode=process
`

// A unit in /etc hides the packaged one, drop-ins apply by name with /etc's
// copy of a name hiding /lib's, and an empty assignment resets a list.
func TestReadUnitAsSystemdDoes(t *testing.T) {
	root := t.TempDir()
	put(t, root, "/lib/systemd/system/slurmd.service", "[Service]\nEnvironmentFile=-/etc/hidden\n")
	put(t, root, "/etc/systemd/system/slurmd.service", upstreamUnit)
	put(t, root, "/lib/systemd/system/slurmd.service.d/10-env.conf", "[Service]\nEnvironment=A=lib\n")
	put(t, root, "/etc/systemd/system/slurmd.service.d/10-env.conf", "[Service]\nEnvironment=\"A=etc x\" B='y z' \\\n  C=3\n")
	put(t, root, "/run/systemd/system/slurmd.service.d/20-files.conf", "[Service]\nEnvironmentFile=\nEnvironmentFile=/etc/slurmd.env\n# EnvironmentFile=/commented\n[Install]\nEnvironment=X=not-service\n")
	put(t, root, "/etc/systemd/system/slurmd.service.d/README", "not a drop-in\n")
	u, ok, err := ReadUnit(config.Root(root), SlurmdUnit)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if u.File != "/etc/systemd/system/slurmd.service" {
		t.Fatalf("unit file %s", u.File)
	}
	wantDropIns := []string{"/etc/systemd/system/slurmd.service.d/10-env.conf", "/run/systemd/system/slurmd.service.d/20-files.conf"}
	if !slices.Equal(u.DropIns, wantDropIns) {
		t.Fatalf("drop-ins %q, want %q", u.DropIns, wantDropIns)
	}
	if !slices.Equal(u.EnvFiles, []string{"/etc/slurmd.env"}) {
		t.Fatalf("environment files %q", u.EnvFiles)
	}
	if want := map[string]string{"A": "etc x", "B": "y z", "C": "3"}; !maps.Equal(u.Env, want) {
		t.Fatalf("environment %q, want %q", u.Env, want)
	}
	if _, ok, err := ReadUnit(config.Root(t.TempDir()), SlurmdUnit); ok || err != nil {
		t.Fatalf("no unit: %v %v", ok, err)
	}
}

func TestEnvFileValue(t *testing.T) {
	text := "# PATH=/commented\nSLURMD_OPTIONS=\"-M\"\nPATH=/a:/b\n  PATH = \"/c:/d\"  \nOTHER=1\n"
	if v, line, ok := EnvFileValue(text, "PATH"); !ok || v != "/c:/d" || line != 3 {
		t.Fatalf("%q %d %v", v, line, ok)
	}
	if _, _, ok := EnvFileValue("PATHS=/x\n", "PATH"); ok {
		t.Fatal("PATHS read as PATH")
	}
}

func TestParseEnvironAndPathHas(t *testing.T) {
	env := ParseEnviron([]byte("HOME=/root\x00PATH=/usr/bin:/opt/slurm/bin/\x00=junk\x00EMPTY=\x00"))
	if env["PATH"] != "/usr/bin:/opt/slurm/bin/" || env["HOME"] != "/root" || len(env) != 3 {
		t.Fatalf("%q", env)
	}
	if !PathHas(env["PATH"], "/opt/slurm/bin") || PathHas(env["PATH"], "/opt/slurm") || PathHas("", "/usr/bin") {
		t.Fatal("PathHas")
	}
}
