package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
	"github.com/enroot-agent/enroot-agent/internal/fake/slurm"
	"github.com/enroot-agent/enroot-agent/internal/fake/systemd"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/serve"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// healthyNode is a sandbox where every check can pass: slurmd is restarted
// through a stand-in systemd on a private D-Bus, slurm.conf exists, and the
// re-rooted /proc/sys holds the namespace limits.
func healthyNode(t *testing.T, verifyKeys string) (root, listen, busEnv string) {
	t.Helper()
	root, listen, stub := healthyNodeStub(t, verifyKeys)
	return root, listen, "DBUS_SYSTEM_BUS_ADDRESS=" + stub.Addr
}

// healthyNodeStub is healthyNode that also returns the systemd stand-in,
// for tests that count slurmd restarts.
func healthyNodeStub(t *testing.T, verifyKeys string) (root, listen string, stub *systemd.Stub) {
	t.Helper()
	root, listen = daemonRoot(t, verifyKeys)
	stub = testenv.StartSystemdStub(t)
	conf := filepath.Join(root, "usr/etc")
	if err := os.MkdirAll(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := slurm.Conf(conf, "/opt/slurm/etc/plugstack.conf"); err != nil {
		t.Fatal(err)
	}
	// The kernel's namespace limits, at 0 as on a node where the sysctl step
	// has work to do.
	for _, key := range []string{"max_user_namespaces", "max_mnt_namespaces"} {
		p := filepath.Join(root, "proc/sys/user", key)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root, listen, stub
}

func getReport(t *testing.T, url string) (int, verify.Report, string) {
	t.Helper()
	code, body := get(t, url)
	var rep verify.Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("%s: %v\n%s", url, err, body)
	}
	return code, rep, body
}

// /verify: 200 on a healthy node, 503 naming the check while a directory
// stands where the credentials file belongs (damage the daemon cannot put
// right), 200 again after `enroot-agent refresh`; /metrics parses; no token
// anywhere in what the daemon serves, says or logs.
func TestVerifyEndpointAndMetrics(t *testing.T) {
	root, listen, bus := healthyNode(t, "  cache_ttl: 1s\n")
	a := startAgent(t, root, listen, 0, bus)
	a.waitNotify(0, "READY=1", 90*time.Second)
	url := "http://" + listen
	code, rep, body := getReport(t, url+"/verify")
	if code != 200 || rep.Status != verify.OK {
		t.Fatalf("healthy node: %d\n%s", code, body)
	}
	if out, errOut, code := runAgent(t, "--root", root, "verify"); code != 0 || !strings.Contains(out, "checked by the daemon on "+serve.SocketPath) {
		t.Fatalf("verify CLI: exit %d\n%s%s", code, out, errOut)
	}
	// The front binary answers by itself when the daemon does (a copy with
	// no agent beside it could not exec one), the same table and JSON.
	alone := filepath.Join(t.TempDir(), "enroot-agent")
	if out, err := exec.Command("install", "-m", "0755", testenv.Binary(t), alone).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, args := range [][]string{{"verify"}, {"verify", "--json"}} {
		cmd := exec.Command(alone, append([]string{"--root", root}, args...)...)
		out, err := cmd.Output()
		if err != nil || !strings.Contains(string(out), "checked by the daemon on "+serve.SocketPath) && !strings.Contains(string(out), `"status": "ok"`) {
			t.Fatalf("the front's %v: %v\n%s", args, err, out)
		}
	}

	creds := filepath.Join(root, "run/enroot-agent/enroot-config/.credentials")
	if err := os.Remove(creds); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(creds, 0o755); err != nil {
		t.Fatal(err)
	}
	// The report cached before the removal lives cache_ttl (1s): poll.
	fake.Eventually(20*time.Second, func() bool {
		code, rep, body = getReport(t, url+"/verify")
		return code != 200
	})
	failing := firstFailing(rep.Results)
	if code != 503 || rep.Status != verify.Fail || !strings.HasPrefix(failing, "credentials") {
		t.Fatalf("credentials file removed: %d, first failing %q\n%s", code, failing, body)
	}
	out, errOut, code := runAgent(t, "--root", root, "verify", "--json")
	if code != 1 || !strings.Contains(out, `"status": "fail"`) {
		t.Fatalf("verify --json with a failing check: exit %d\n%s%s", code, out, errOut)
	}
	if err := os.Remove(creds); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runAgent(t, "--root", root, "refresh"); code != 0 {
		t.Fatalf("refresh: exit %d\n%s%s", code, out, errOut)
	}
	fake.Eventually(20*time.Second, func() bool {
		code, _, body = getReport(t, url+"/verify")
		return code == 200
	})
	if code != 200 {
		t.Fatalf("after refresh: %d\n%s", code, body)
	}

	_, metrics := get(t, url+"/metrics")
	families := parseMetrics(t, metrics)
	exp := families["enroot_agent_registry_token_expiry_timestamp_seconds"]
	if exp == nil || exp.Metric[0].GetGauge().GetValue() < float64(time.Now().Unix()) {
		t.Fatalf("token expiry metric: %v", exp)
	}
	for _, name := range []string{"enroot_agent_build_info", "enroot_agent_credentials_refresh_total",
		"enroot_agent_converge_step_success", "enroot_agent_converge_step_duration_seconds", "enroot_agent_check_status", "enroot_agent_ready"} {
		if families[name] == nil {
			t.Errorf("no %s in /metrics", name)
		}
	}
	_, healthz := get(t, url+"/healthz")
	everything := body + metrics + healthz + a.log.String() + strings.Join(states(a.notify.Messages()), "\n")
	tokens := awsFor(t).ecr.Issued()
	if len(tokens) < 2 {
		t.Fatalf("ECR issued %d tokens, want at least 2 (start and refresh)", len(tokens))
	}
	for _, tok := range tokens {
		if strings.Contains(everything, tok) {
			t.Fatal("a token leaked into /verify, /metrics, the log or STATUS")
		}
	}
}

func parseMetrics(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, text)
	}
	return fams
}

// firstFailing names the first failing check (else the first unknown); ""
// when every check is ok.
func firstFailing(results []verify.Result) string {
	for _, want := range []verify.Status{verify.Fail, verify.Unknown} {
		for _, r := range results {
			if r.Status == want {
				return r.Name
			}
		}
	}
	return ""
}
