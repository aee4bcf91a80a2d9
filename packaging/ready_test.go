package packaging

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
	"github.com/enroot-agent/enroot-agent/internal/fake/aws"
	"github.com/enroot-agent/enroot-agent/internal/fake/slurm"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/serve"
)

// stubSystemctlDaemon starts and stops the packaged agent itself, re-rooted
// in the node's sandbox (`enroot-agent --root $STUB_ROOT run`), the way
// systemd would run the unit; ActiveState and InvocationID follow its pid.
const stubSystemctlDaemon = `#!/bin/sh
echo "systemctl $*" >>"$STUB_LOG"
pidf=$STUB_ROOT/stub-agent.pid
alive() { [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; }
case $1 in
status) echo "enroot-agent.service - stub status" ;;
show)
  case $3 in
  ActiveState) if alive; then echo active; else echo inactive; fi ;;
  InvocationID) if alive; then cat "$pidf"; fi ;;
  esac ;;
start | restart)
  if [ "$1" = restart ] && alive; then
    kill "$(cat "$pidf")"
    while alive; do sleep 0.1; done
  fi
  if ! alive; then
    enroot-agent --root "$STUB_ROOT" --log-format json run </dev/null >>"$STUB_ROOT/agent.log" 2>&1 &
    echo $! >"$pidf"
  fi ;;
esac
exit 0
`

// stubRerooted runs the packaged agent in the node's sandbox for the
// bootstrap script too: its `enroot-agent verify` then finds the daemon's
// root-only socket under $STUB_ROOT/run, as on a node it finds /run's.
const stubRerooted = `#!/bin/sh
[ "$1" = --root ] && exec "$STUB_ROOT/usr/bin/enroot-agent" "$@"
exec "$STUB_ROOT/usr/bin/enroot-agent" --root "$STUB_ROOT" "$@"
`

// The whole way to ready: the script installs the deb into a node sandbox
// (Enroot installed, Slurm's headers, a stand-in systemd on a private D-Bus,
// IMDS and ECR emulators), writes the config, starts the real daemon, and
// exits 0 once enroot-agent verify (answered by that daemon) passes. A second
// run restarts nothing and is ready at once.
func TestBootstrapUntilReady(t *testing.T) {
	p := packages(t)
	root := testenv.NodeRoot(t)
	pyxisYAML, _ := testenv.PyxisSandbox(t, root)
	bus := testenv.StartSystemdStub(t)
	mkdir(t, filepath.Join(root, "usr/etc"))
	if _, err := slurm.Conf(filepath.Join(root, "usr/etc"), "/opt/slurm/etc/plugstack.conf"); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"max_user_namespaces", "max_mnt_namespaces"} {
		writeFile(t, filepath.Join(root, "proc/sys/user", key), "0\n", 0o644)
	}
	imds := testenv.StartIMDS(t, "123456789012", "us-east-1")
	ecr := testenv.StartECR(t)
	ecr.AccessKey = imds.AccessKey

	n := newNodeAt(t, p, t.TempDir(), root)
	writeFile(t, filepath.Join(n.stubs, "systemctl"), stubSystemctlDaemon, 0o755)
	writeFile(t, filepath.Join(n.stubs, "enroot-agent"), stubRerooted, 0o755)
	n.env = append(aws.Env(imds, ecr, t.TempDir()), "DBUS_SYSTEM_BUS_ADDRESS="+bus.Addr)
	t.Cleanup(func() { stopAgent(t, root) })

	listen := freeAddr(t)
	confURL := n.serve(t, "ready.yaml", pyxisYAML+"verify:\n  listen: "+listen+"\n  cache_ttl: 1s\n")
	deb := n.url + "/" + filepath.Base(p.deb)
	out, code := n.bootstrap(t, deb, "--config", confURL, "--timeout", "180")
	if code != 0 || !strings.Contains(out, "enroot-agent reports the node ready") {
		log, _ := os.ReadFile(filepath.Join(root, "agent.log"))
		t.Fatalf("exit %d:\n%s\nagent log:\n%s", code, out, log)
	}
	if calls := n.calls(t); !strings.Contains(calls, "apt-get install") || !strings.Contains(calls, "systemctl restart --no-block") {
		t.Errorf("calls:\n%s", calls)
	}
	// The daemon answered, not a local check of this machine.
	if v := run(t, filepath.Join(root, "usr/bin/enroot-agent"), "--root", root, "--config", n.config, "verify"); !strings.Contains(v, "checked by the daemon on "+serve.SocketPath) {
		t.Errorf("verify:\n%s", v)
	}
	pid, _ := os.ReadFile(filepath.Join(root, "stub-agent.pid"))

	// slurm.conf now propagates MEMLOCK: a check that cannot tell whether it
	// matters (verify exit 2) does not keep the node out, except --strict.
	conf := filepath.Join(root, "usr/etc/slurm.conf")
	data, _ := os.ReadFile(conf)
	writeFile(t, conf, strings.Replace(string(data), "PropagateResourceLimitsExcept=MEMLOCK\n", "", 1), 0o644)
	// The daemon's report from before the edit lives cache_ttl (1s): wait
	// until it sees the edit.
	if !fake.Eventually(20*time.Second, func() bool {
		resp, err := http.Get("http://" + listen + "/verify")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(body), `"status": "unknown"`)
	}) {
		t.Fatal("the daemon never reported the edited slurm.conf")
	}
	start := time.Now()
	out, code = n.bootstrap(t, deb, "--config", confURL, "--timeout", "60")
	if code != 0 || !strings.Contains(out, "ready; some checks cannot tell:") || !strings.Contains(out, "? slurm-memlock") {
		t.Fatalf("second run: exit %d:\n%s", code, out)
	}
	if calls := n.calls(t); strings.Contains(calls, "restart") {
		t.Errorf("second run restarted the agent:\n%s", calls)
	}
	if again, _ := os.ReadFile(filepath.Join(root, "stub-agent.pid")); string(again) != string(pid) {
		t.Error("second run started another agent")
	}
	// A ready node is not waited on: waiting out --timeout would take 60s.
	if d := time.Since(start); d >= time.Minute {
		t.Errorf("second run took %v on a ready node", d)
	}
	out, code = n.bootstrap(t, deb, "--config", confURL, "--timeout", "2", "--strict")
	if code != 1 || !strings.Contains(out, "did not report ready within 2s (unit active)") || !strings.Contains(out, "? slurm-memlock") {
		t.Errorf("--strict with an unknown check: exit %d:\n%s", code, out)
	}
}

// stopAgent ends the daemon the stub systemctl started.
func stopAgent(t *testing.T, root string) {
	data, err := os.ReadFile(filepath.Join(root, "stub-agent.pid"))
	if err != nil {
		return
	}
	var pid int
	for _, c := range strings.TrimSpace(string(data)) {
		pid = pid*10 + int(c-'0')
	}
	if pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
