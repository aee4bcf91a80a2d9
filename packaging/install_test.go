package packaging

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// wantInstalled is what a scratch root holds after installing either package.
var wantInstalled = map[string]os.FileMode{
	"etc/enroot-agent":                            os.ModeDir | 0o755,
	"etc/enroot-agent/config.yaml":                0o644,
	"usr/bin/enroot-agent":                        0o755,
	"usr/lib/systemd/system/enroot-agent.service": 0o644,
	"usr/libexec/enroot-agent/enroot-agent":       0o755,
	"usr/libexec/enroot-agent/enroot-agent-aws":   0o755,
	"usr/share/doc/enroot-agent/README.md":        0o644,
	"var/cache/enroot-agent":                      os.ModeDir | 0o700,
	"var/lib/enroot-agent":                        os.ModeDir | 0o700,
}

func TestRPMInstallsIntoScratchRoot(t *testing.T) {
	p := packages(t)
	root := t.TempDir()
	run(t, "rpm", "--root", root, "--initdb")
	run(t, "rpm", "--root", root, "-i", "--nodeps", "--noscripts", p.rpm)
	if out := run(t, "rpm", "--root", root, "-q", "enroot-agent"); !strings.HasPrefix(out, "enroot-agent-"+p.version) {
		t.Fatalf("rpm -q: %s", out)
	}
	checkInstalled(t, root)

	// %config(noreplace): an upgrade keeps the admin's edited config.
	conf := filepath.Join(root, "etc/enroot-agent/config.yaml")
	edited := "verify:\n  listen: 127.0.0.1:9999\n"
	if err := os.WriteFile(conf, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	next := rebuildRPM(t, p.release+".1")
	run(t, "rpm", "--root", root, "-U", "--nodeps", "--noscripts", next)
	if got, _ := os.ReadFile(conf); string(got) != edited {
		t.Fatalf("upgrade replaced the edited config:\n%s", got)
	}
	run(t, "rpm", "--root", root, "-e", "--nodeps", "--noscripts", "enroot-agent")
	if _, err := os.Stat(filepath.Join(root, "usr/bin/enroot-agent")); !os.IsNotExist(err) {
		t.Fatalf("rpm -e left the binary: %v", err)
	}
}

// rebuildRPM packages the staged files again with another release.
func rebuildRPM(t *testing.T, release string) string {
	t.Helper()
	stage := filepath.Join(filepath.Dir(built.rpm), rpmArch, "stage")
	out := run(t, "rpm/build.sh", stage, t.TempDir(), built.version, release, rpmArch)
	return strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
}

func TestDebInstallsIntoScratchRoot(t *testing.T) {
	p := packages(t)
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
		mkdir(t, filepath.Join(root, d))
	}
	writeFile(t, filepath.Join(root, "var/lib/dpkg/status"), "", 0o644)
	// Chrootless: the maintainer scripts run here with DPKG_ROOT set, and
	// must not touch this machine's systemd (they check DPKG_ROOT).
	dpkg := func(args ...string) string {
		return run(t, "dpkg", append([]string{"--root=" + root, "--force-script-chrootless"}, args...)...)
	}
	dpkg("-i", p.deb)
	if out := dpkg("-s", "enroot-agent"); !strings.Contains(out, "Status: install ok installed") {
		t.Fatalf("dpkg -s:\n%s", out)
	}
	checkInstalled(t, root)

	// remove keeps the conffile; purge deletes it and the agent's state.
	writeFile(t, filepath.Join(root, "var/lib/enroot-agent/state.json"), "{}", 0o600)
	dpkg("--remove", "enroot-agent")
	if _, err := os.Stat(filepath.Join(root, "etc/enroot-agent/config.yaml")); err != nil {
		t.Fatalf("remove deleted the conffile: %v", err)
	}
	dpkg("--purge", "enroot-agent")
	for _, gone := range []string{"etc/enroot-agent/config.yaml", "var/lib/enroot-agent", "usr/bin/enroot-agent", "usr/libexec/enroot-agent"} {
		if _, err := os.Stat(filepath.Join(root, gone)); !os.IsNotExist(err) {
			t.Errorf("purge left /%s (%v)", gone, err)
		}
	}
}

// checkInstalled checks the files, the unit and the config in a root where
// a package was just installed.
func checkInstalled(t *testing.T, root string) {
	t.Helper()
	for rel, want := range wantInstalled {
		fi, err := os.Lstat(filepath.Join(root, rel))
		if err != nil {
			t.Errorf("/%s: %v", rel, err)
		} else if got := fi.Mode() & (os.ModeType | os.ModePerm); got != want {
			t.Errorf("/%s: mode %v, want %v", rel, got, want)
		}
	}
	bin := filepath.Join(root, "usr/bin/enroot-agent")
	checkStatic(t, bin, elfMachine[rpmArch])
	agent := filepath.Join(root, "usr/libexec/enroot-agent/enroot-agent")
	checkStatic(t, agent, elfMachine[rpmArch])
	helper := filepath.Join(root, "usr/libexec/enroot-agent/enroot-agent-aws")
	checkStatic(t, helper, elfMachine[rpmArch])
	// The front answers `version` itself; the agent and its AWS helper are
	// stamped alike.
	front, full := run(t, bin, "version"), run(t, agent, "version")
	if front != full || strings.Contains(front, " dev ") {
		t.Errorf("version: front %q, agent %q, want the same, stamped by the Makefile", front, full)
	}
	if aws := run(t, helper, "version"); aws != strings.Replace(front, "enroot-agent ", "enroot-agent-aws ", 1) {
		t.Errorf("version: AWS helper %q, front %q, want the same stamp", aws, front)
	}

	run(t, "systemctl", "--root="+root, "enable", "enroot-agent")
	link := filepath.Join(root, "etc/systemd/system/multi-user.target.wants/enroot-agent.service")
	if dest, err := os.Readlink(link); err != nil || dest != "/usr/lib/systemd/system/enroot-agent.service" {
		t.Errorf("systemctl enable: %s -> %q (%v)", link, dest, err)
	}
	analyzeVerify(t, root)

	// The installed default config validates, read from its installed path
	// (validate is the agent's: the front execs it from its own directory).
	out := run(t, bin, "--root", root, "validate")
	if strings.TrimSpace(out) != "config OK" {
		t.Errorf("validate: %s", out)
	}
	out = run(t, bin, "--config", filepath.Join(root, "etc/enroot-agent/config.yaml"), "validate")
	if strings.TrimSpace(out) != "config OK" {
		t.Errorf("validate --config: %s", out)
	}
}

// analyzeVerify runs systemd-analyze verify on the installed unit. The root
// also needs /bin/kill (ExecReload) and the host's units for the targets the
// unit is ordered against. It exits 0 on unknown keys, so output fails too.
func analyzeVerify(t *testing.T, root string) {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze is missing: apt-get install systemd")
	}
	mkdir(t, filepath.Join(root, "bin"))
	run(t, "cp", "/bin/kill", filepath.Join(root, "bin/kill"))
	run(t, "cp", "-rn", "/usr/lib/systemd/system/.", filepath.Join(root, "usr/lib/systemd/system"))
	out := run(t, "systemd-analyze", "verify", "--man=no", "--root="+root, "enroot-agent.service")
	if strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify:\n%s", out)
	}
}

var elfMachine = map[string]elf.Machine{"x86_64": elf.EM_X86_64, "aarch64": elf.EM_AARCH64}

// checkStatic fails unless bin is a static ELF for machine: no interpreter,
// no shared libraries, so it runs on any EL or Ubuntu release.
func checkStatic(t *testing.T, bin string, machine elf.Machine) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != machine {
		t.Errorf("%s: machine %v, want %v", bin, f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s: dynamically linked (has an interpreter): build with CGO_ENABLED=0", bin)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s: needs shared libraries %v", bin, libs)
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	mkdir(t, filepath.Dir(path))
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}
