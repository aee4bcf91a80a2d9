package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
)

// The daemon repairs drift without a restart: five kinds of damage at once,
// each found by a check, each changed back by one repair converge, logged
// with what had drifted, counted, and /verify is 200 again.
func TestDaemonRepairsDrift(t *testing.T) {
	root, listen, bus := healthyNode(t, "  interval: 10s\n  cache_ttl: 1s\n")
	// No periodic converge: the failing checks alone must start the repair.
	appendConfig(t, root, "converge:\n  interval: 0s\n")
	a := startAgent(t, root, listen, 0, bus)
	a.waitNotify(0, "READY=1", 90*time.Second)
	url := "http://" + listen
	waitVerify(t, url, 200, 30*time.Second)

	plugstack := filepath.Join(root, "opt/slurm/etc/plugstack.conf")
	data, err := os.ReadFile(plugstack)
	if err != nil || !strings.Contains(string(data), "include ") {
		t.Fatalf("plugstack without our include: %q %v", data, err)
	}
	drift := map[string]func() error{
		"include line deleted": func() error { return os.WriteFile(plugstack, []byte("# emptied by hand\n"), 0o644) },
		"enroot.conf overwritten": func() error {
			return os.WriteFile(filepath.Join(root, "etc/enroot/enroot.conf"), []byte("ENROOT_RUNTIME_PATH /tmp\n"), 0o644)
		},
		"sysctl lowered": func() error {
			return os.WriteFile(filepath.Join(root, "proc/sys/user/max_user_namespaces"), []byte("0\n"), 0o644)
		},
		"credentials deleted": func() error { return os.Remove(filepath.Join(root, "run/enroot-agent/enroot-config/.credentials")) },
		"plugin removed":      func() error { return os.Remove(filepath.Join(root, "usr/local/lib/slurm/spank_pyxis.so")) },
	}
	for what, do := range drift {
		if err := do(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	start := time.Now()
	waitVerify(t, url, 503, 15*time.Second)
	waitVerify(t, url, 200, 60*time.Second)
	t.Logf("drift repaired %s after it was made", time.Since(start).Round(time.Millisecond))

	for _, step := range []string{"pyxis-plugstack", "enroot-conf", "enroot-sysctl", "pyxis-build"} {
		a.waitLog(`"msg":"repaired drift","step":"`+step+`"`, 5*time.Second)
	}
	a.waitLog(`"drifted":"`, time.Second)
	if _, err := os.Stat(filepath.Join(root, "run/enroot-agent/enroot-config/.credentials")); err != nil {
		t.Fatalf("credentials file not rewritten: %v", err)
	}
	_, metrics := get(t, url+"/metrics")
	if !strings.Contains(metrics, `enroot_agent_converge_repairs_total{step="enroot-conf"} 1`) {
		t.Errorf("no repair counted:\n%s", grepLines(metrics, "repairs_total"))
	}
	select {
	case <-a.exited:
		t.Fatal("the agent exited: repairs must not need a restart")
	default:
	}
}

// waitVerify polls /verify until it answers code.
func waitVerify(t *testing.T, url string, code int, within time.Duration) {
	t.Helper()
	var last string
	if !fake.Eventually(within, func() bool {
		got, body := get(t, url+"/verify")
		last = body
		return got == code
	}) {
		t.Fatalf("/verify never answered %d within %s; last:\n%s", code, within, last)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
