package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The deb's maintainer scripts do what the rpm macros do. Each runs as
// shipped, in a private mount namespace whose /run has systemd's marker
// directory (so they believe systemd is PID 1), with systemctl a logger.
func TestDebMaintainerScripts(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare is missing: apt-get install util-linux")
	}
	control := t.TempDir()
	run(t, "dpkg-deb", "-e", packages(t).deb, control)
	for _, c := range []struct {
		script string
		args   []string
		want   string
	}{
		{"postinst", []string{"configure", ""}, "daemon-reload"},
		{"postinst", []string{"configure", "0.9-1"}, "daemon-reload\ntry-restart enroot-agent.service"},
		{"prerm", []string{"remove"}, "--no-reload disable --now enroot-agent.service"},
		{"prerm", []string{"upgrade", "2.0-1"}, ""},
		{"postrm", []string{"remove"}, "daemon-reload"},
		{"postrm", []string{"upgrade", "2.0-1"}, ""},
	} {
		if got := runMaintainerScript(t, filepath.Join(control, c.script), "", c.args...); got != c.want {
			t.Errorf("%s %q ran systemctl %q, want %q", c.script, c.args, got, c.want)
		}
	}

	// Into another root (DPKG_ROOT): no live systemd call, and a purge
	// deletes the state and cache there, not here.
	root := t.TempDir()
	for _, d := range []string{"var/lib/enroot-agent", "var/cache/enroot-agent", "var/cache/enroot-agent-images"} {
		writeFile(t, filepath.Join(root, d, "f"), "x", 0o600)
	}
	for _, s := range []string{"postinst configure 0.9-1", "prerm remove", "postrm purge"} {
		f := strings.Fields(s)
		if got := runMaintainerScript(t, filepath.Join(control, f[0]), root, f[1:]...); got != "" {
			t.Errorf("%s with DPKG_ROOT ran systemctl %q", s, got)
		}
	}
	for _, d := range []string{"var/lib/enroot-agent", "var/cache/enroot-agent", "var/cache/enroot-agent-images"} {
		if _, err := os.Stat(filepath.Join(root, d)); !os.IsNotExist(err) {
			t.Errorf("purge left %s (%v)", d, err)
		}
	}
}

// runMaintainerScript runs one script and returns the systemctl calls.
func runMaintainerScript(t *testing.T, script, dpkgRoot string, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	writeFile(t, filepath.Join(dir, "systemctl"), "#!/bin/sh\necho \"$*\" >>"+log+"\n", 0o755)
	inner := `mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system && exec "$@"`
	cmd := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", inner, "sh", script}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "DPKG_ROOT="+dpkgRoot)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %q: %v\n%s", filepath.Base(script), args, err, out)
	}
	data, _ := os.ReadFile(log)
	return strings.TrimSpace(string(data))
}
