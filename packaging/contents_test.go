package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The rpm holds exactly these files, modes, owners and flags (c = %config,
// n = noreplace, d = %doc). A change to the manifest must change this list.
var wantRPM = []string{
	"drwxr-xr-x root:root  /etc/enroot-agent",
	"-rw-r--r-- root:root cn /etc/enroot-agent/config.yaml",
	"-rwxr-xr-x root:root  /usr/bin/enroot-agent",
	"-rw-r--r-- root:root  /usr/lib/systemd/system/enroot-agent.service",
	"drwxr-xr-x root:root  /usr/libexec/enroot-agent",
	"-rwxr-xr-x root:root  /usr/libexec/enroot-agent/enroot-agent",
	"-rwxr-xr-x root:root  /usr/libexec/enroot-agent/enroot-agent-aws",
	"-rw-r--r-- root:root d /usr/share/doc/enroot-agent/README.md",
	"drwxr-xr-x root:root  /usr/share/enroot-agent",
	"-rw-r--r-- root:root  /usr/share/enroot-agent/enroot-agent.rules.yml",
	"drwx------ root:root  /var/cache/enroot-agent",
	"drwx------ root:root  /var/lib/enroot-agent",
}

// The deb holds exactly these entries (parents included, as dpkg -c lists).
var wantDeb = []string{
	"drwxr-xr-x root/root /",
	"drwxr-xr-x root/root /etc/",
	"drwxr-xr-x root/root /etc/enroot-agent/",
	"-rw-r--r-- root/root /etc/enroot-agent/config.yaml",
	"drwxr-xr-x root/root /usr/",
	"drwxr-xr-x root/root /usr/bin/",
	"-rwxr-xr-x root/root /usr/bin/enroot-agent",
	"drwxr-xr-x root/root /usr/lib/",
	"drwxr-xr-x root/root /usr/lib/systemd/",
	"drwxr-xr-x root/root /usr/lib/systemd/system/",
	"-rw-r--r-- root/root /usr/lib/systemd/system/enroot-agent.service",
	"drwxr-xr-x root/root /usr/libexec/",
	"drwxr-xr-x root/root /usr/libexec/enroot-agent/",
	"-rwxr-xr-x root/root /usr/libexec/enroot-agent/enroot-agent",
	"-rwxr-xr-x root/root /usr/libexec/enroot-agent/enroot-agent-aws",
	"drwxr-xr-x root/root /usr/share/",
	"drwxr-xr-x root/root /usr/share/doc/",
	"drwxr-xr-x root/root /usr/share/doc/enroot-agent/",
	"-rw-r--r-- root/root /usr/share/doc/enroot-agent/README.md",
	"drwxr-xr-x root/root /usr/share/enroot-agent/",
	"-rw-r--r-- root/root /usr/share/enroot-agent/enroot-agent.rules.yml",
	"drwxr-xr-x root/root /var/",
	"drwxr-xr-x root/root /var/cache/",
	"drwx------ root/root /var/cache/enroot-agent/",
	"drwxr-xr-x root/root /var/lib/",
	"drwx------ root/root /var/lib/enroot-agent/",
}

func TestRPMContents(t *testing.T) {
	p := packages(t)
	out := run(t, "rpm", "-qp", "--qf", "[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]", p.rpm)
	if got := lines(out); !slices.Equal(got, wantRPM) {
		t.Errorf("rpm -qp files:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantRPM, "\n"))
	}
	// rpm -qlp is the listing an admin runs; it must agree.
	if got := lines(run(t, "rpm", "-qlp", p.rpm)); len(got) != len(wantRPM) {
		t.Errorf("rpm -qlp lists %d files, want %d:\n%s", len(got), len(wantRPM), strings.Join(got, "\n"))
	}
	head := run(t, "rpm", "-qp", "--qf", "%{NAME} %{VERSION} %{RELEASE} %{ARCH}", p.rpm)
	if want := "enroot-agent " + p.version + " " + p.release + " " + rpmArch; head != want {
		t.Errorf("rpm header %q, want %q", head, want)
	}
}

func TestRPMScriptlets(t *testing.T) {
	out := run(t, "rpm", "-qp", "--scripts", packages(t).rpm)
	for _, want := range []string{
		"postinstall scriptlet", "systemctl --no-reload preset enroot-agent.service",
		"preuninstall scriptlet", "systemctl --no-reload disable --now enroot-agent.service",
		"postuninstall scriptlet", "systemctl try-restart enroot-agent.service",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rpm scriptlets lack %q:\n%s", want, out)
		}
	}
}

// Each scriptlet is valid sh, and does what the macros promise for each
// value of $1 (1 install, 2 upgrade, 0 erase), with a systemctl stand-in.
func TestRPMScriptletsRun(t *testing.T) {
	rpm := packages(t).rpm
	for _, c := range []struct {
		tag  string
		arg  string
		want string
	}{
		{"POSTIN", "1", "--no-reload preset enroot-agent.service"},
		{"POSTIN", "2", ""},
		{"PREUN", "0", "--no-reload disable --now enroot-agent.service"},
		{"PREUN", "1", ""},
		{"POSTUN", "1", "daemon-reload\ntry-restart enroot-agent.service"},
		{"POSTUN", "0", "daemon-reload"},
	} {
		body := run(t, "rpm", "-qp", "--qf", "%{"+c.tag+"}", rpm)
		dir := t.TempDir()
		log := filepath.Join(dir, "log")
		// The scriptlets call /usr/bin/systemctl by path; run them with that
		// path pointed at a logger, which is the only rewrite made.
		stub := filepath.Join(dir, "systemctl")
		writeFile(t, stub, "#!/bin/sh\necho \"$*\" >>"+log+"\n", 0o755)
		script := strings.ReplaceAll(body, "/usr/bin/systemctl", stub)
		if out, err := exec.Command("sh", "-n", "-c", body).CombinedOutput(); err != nil {
			t.Fatalf("%s: sh -n: %v\n%s\n%s", c.tag, err, out, body)
		}
		run(t, "sh", "-c", script, "scriptlet", c.arg)
		got, _ := os.ReadFile(log)
		if strings.TrimSpace(string(got)) != c.want {
			t.Errorf("%s with $1=%s ran %q, want %q", c.tag, c.arg, got, c.want)
		}
	}
}

// On EL the systemd-rpm-macros definitions win over the spec's fallbacks.
func TestSpecUsesDistroSystemdMacros(t *testing.T) {
	out := run(t, "rpmspec", "-P",
		"--define", "systemd_post() EL-POST %{?*}",
		"--define", "systemd_preun() EL-PREUN %{?*}",
		"--define", "systemd_postun_with_restart() EL-POSTUN %{?*}",
		"--define", "systemd_requires Requires(post): EL-SYSTEMD",
		"rpm/enroot-agent.spec")
	for _, want := range []string{"EL-POST enroot-agent.service", "EL-PREUN enroot-agent.service", "EL-POSTUN enroot-agent.service", "EL-SYSTEMD"} {
		if !strings.Contains(out, want) {
			t.Errorf("rpmspec -P with EL macros lacks %q", want)
		}
	}
	if strings.Contains(out, "systemctl") {
		t.Errorf("fallback macros used although the distro defines them:\n%s", out)
	}
}

func TestDebContents(t *testing.T) {
	p := packages(t)
	var got []string
	for _, l := range lines(run(t, "dpkg", "-c", p.deb)) {
		f := strings.Fields(l)
		got = append(got, f[0]+" "+f[1]+" "+strings.TrimPrefix(f[len(f)-1], "."))
	}
	if !slices.Equal(got, wantDeb) {
		t.Errorf("dpkg -c:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantDeb, "\n"))
	}
	if conf := run(t, "dpkg-deb", "--info", p.deb, "conffiles"); conf != "/etc/enroot-agent/config.yaml\n" {
		t.Errorf("conffiles = %q", conf)
	}
	fields := run(t, "dpkg-deb", "--field", p.deb, "Package", "Version", "Architecture")
	want := "Package: enroot-agent\nVersion: " + p.version + "-" + p.release + "\nArchitecture: " + debArch + "\n"
	if fields != want {
		t.Errorf("control fields:\n%swant:\n%s", fields, want)
	}
}

func lines(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == '\n' })
}
