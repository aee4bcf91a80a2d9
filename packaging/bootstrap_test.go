package packaging

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// node is a scratch "compute node" for on-node-configured.sh: the package
// manager and systemctl are stubs on PATH (no systemd PID 1 here) that log
// their calls; the stub package manager installs with the real rpm or dpkg
// into a scratch root whose usr/bin is on PATH. Everything else is real:
// curl against a local HTTP server, the packaged enroot-agent's validate
// and verify.
type node struct {
	dir, root, stubs, log, config string
	url                           string
	env                           []string // on top of the test's environment
}

// stubSystemctl logs its calls and keeps a unit state: start and restart
// make it active with a new InvocationID, as systemd does.
const stubSystemctl = `#!/bin/sh
echo "systemctl $*" >>"$STUB_LOG"
unit=$STUB_ROOT/stub-unit
case $1 in
status) echo "enroot-agent.service - stub status" ;;
show)
  [ -f "$unit.$3" ] && cat "$unit.$3"
  [ "$3" = ActiveState ] && [ ! -f "$unit.$3" ] && echo inactive ;;
restart) echo active >"$unit.ActiveState"; echo "run-$(date +%s%N)" >"$unit.InvocationID" ;;
start)
  if [ ! -f "$unit.InvocationID" ]; then
    echo active >"$unit.ActiveState"; echo "run-$(date +%s%N)" >"$unit.InvocationID"
  fi ;;
esac
exit 0
`

const stubDnf = `#!/bin/sh
echo "dnf $*" >>"$STUB_LOG"
for f; do :; done
exec rpm --root "$STUB_ROOT" -U --replacepkgs --nodeps --noscripts "$f"
`

const stubAptGet = `#!/bin/sh
echo "apt-get $*" >>"$STUB_LOG"
for f; do :; done
exec dpkg --root="$STUB_ROOT" --force-script-chrootless -i "$f" >/dev/null
`

// stubAws stands in for the AWS CLI's "aws s3 cp --only-show-errors SRC DEST",
// reading s3://bucket/key from $STUB_S3/bucket/key.
const stubAws = `#!/bin/sh
echo "aws $*" >>"$STUB_LOG"
[ "$1 $2 $3" = "s3 cp --only-show-errors" ] || exit 2
exec cp "$STUB_S3/${4#s3://}" "$5"
`

func newNode(t *testing.T, p pkgs) *node {
	t.Helper()
	dir := t.TempDir()
	return newNodeAt(t, p, dir, filepath.Join(dir, "root"))
}

// newNodeAt prepares a node whose packages install into root.
func newNodeAt(t *testing.T, p pkgs, dir, root string) *node {
	t.Helper()
	// This machine is no EC2 instance: the SDK must not wait on IMDS.
	n := &node{dir: dir, env: []string{"AWS_EC2_METADATA_DISABLED=true"}}
	n.root, n.stubs = root, filepath.Join(n.dir, "stubs")
	n.log, n.config = filepath.Join(n.dir, "calls.log"), filepath.Join(n.root, "etc/enroot-agent/config.yaml")
	writeFile(t, filepath.Join(n.stubs, "systemctl"), stubSystemctl, 0o755)
	writeFile(t, filepath.Join(n.stubs, "dnf"), stubDnf, 0o755)
	writeFile(t, filepath.Join(n.stubs, "apt-get"), stubAptGet, 0o755)
	writeFile(t, filepath.Join(n.stubs, "aws"), stubAws, 0o755)
	run(t, "rpm", "--root", n.root, "--initdb")
	if _, err := os.Stat(filepath.Join(n.root, "var/lib/dpkg/status")); os.IsNotExist(err) {
		mkdir(t, filepath.Join(n.root, "var/lib/dpkg/info"))
		mkdir(t, filepath.Join(n.root, "var/lib/dpkg/updates"))
		writeFile(t, filepath.Join(n.root, "var/lib/dpkg/status"), "", 0o644)
	}

	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(p.rpm))))
	t.Cleanup(srv.Close)
	n.url = srv.URL
	return n
}

// serve puts a file next to the packages and returns its URL.
func (n *node) serve(t *testing.T, name, data string) string {
	writeFile(t, filepath.Join(filepath.Dir(built.rpm), name), data, 0o644)
	return n.url + "/" + name
}

// bootstrap runs the script and returns its combined output and exit code.
func (n *node) bootstrap(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("./parallelcluster/on-node-configured.sh", args...)
	cmd.Env = append(os.Environ(),
		"PATH="+n.stubs+":"+filepath.Join(n.root, "usr/bin")+":"+os.Getenv("PATH"),
		"STUB_LOG="+n.log, "STUB_ROOT="+n.root, "STUB_S3="+filepath.Join(n.dir, "s3"),
		"ENROOT_AGENT_CONFIG="+n.config, "ENROOT_AGENT_POLL=1")
	cmd.Env = append(cmd.Env, n.env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// calls returns the stub calls logged since the last call to calls.
func (n *node) calls(t *testing.T) string {
	data, _ := os.ReadFile(n.log)
	if err := os.Remove(n.log); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(data)
}

// The node never becomes healthy (nothing is converged on this machine): the
// script installs, configures and starts the agent, then gives up at the
// timeout with a non-zero exit and the agent's own verify output.
func TestBootstrapTimesOutWithVerifyOutput(t *testing.T) {
	p := packages(t)
	n := newNode(t, p)
	reg := "123456789012.dkr.ecr.us-east-1.amazonaws.com"
	start := time.Now()
	out, code := n.bootstrap(t, n.url+"/"+filepath.Base(p.rpm), "--registries", reg, "--timeout", "3")
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %v with a 3s timeout", d)
	}
	verify, err := exec.Command(filepath.Join(n.root, "usr/bin/enroot-agent"), "--config", n.config, "verify").CombinedOutput()
	if err == nil {
		t.Fatalf("verify passed on this machine; the test needs a node that is not ready:\n%s", verify)
	}
	first := strings.SplitN(strings.TrimSpace(string(verify)), "\n", 2)[0]
	if !strings.Contains(out, "did not report ready within 3s (unit active); its verify output:\n"+first) {
		t.Errorf("output lacks the verify output %q:\n%s", first, out)
	}
	if !strings.Contains(out, "stub status") {
		t.Errorf("output lacks systemctl status:\n%s", out)
	}
	want := "# written by on-node-configured\necr:\n  registries:\n    - " + reg + "\n"
	if got, _ := os.ReadFile(n.config); string(got) != want {
		t.Errorf("config:\n%s\nwant:\n%s", got, want)
	}
	calls := n.calls(t)
	// The run before the restart is recorded, so the old daemon's verify
	// cannot pass for the new config.
	order := []string{"dnf -y -q install ", "systemctl enable enroot-agent.service",
		"systemctl show -p InvocationID --value enroot-agent.service",
		"systemctl restart --no-block enroot-agent.service", "systemctl show -p ActiveState"}
	at := 0
	for _, c := range order {
		i := strings.Index(calls[at:], c)
		if i < 0 {
			t.Errorf("no %q (in this order) in calls:\n%s", c, calls)
			break
		}
		at += i
	}

	// Run again: same package, same config: no rewrite, no restart.
	fi, _ := os.Stat(n.config)
	out, code = n.bootstrap(t, n.url+"/"+filepath.Base(p.rpm), "--registries", reg, "--timeout", "1")
	if code != 1 {
		t.Fatalf("second run exit %d:\n%s", code, out)
	}
	calls = n.calls(t)
	if strings.Contains(calls, "restart") || !strings.Contains(calls, "systemctl start --no-block enroot-agent.service") {
		t.Errorf("second run calls:\n%s", calls)
	}
	if fi2, _ := os.Stat(n.config); !fi2.ModTime().Equal(fi.ModTime()) {
		t.Error("second run rewrote the unchanged config")
	}
}

// A bad config or a wrong digest stops the script before the node changes.
func TestBootstrapRefusesBadInput(t *testing.T) {
	p := packages(t)
	n := newNode(t, p)
	pkgURL := n.url + "/" + filepath.Base(p.rpm)
	bad := n.serve(t, "bad.yaml", "ecr:\n  refresh_interval: 6x\n")
	out, code := n.bootstrap(t, pkgURL, "--config", bad, "--timeout", "1")
	if code != 1 || !strings.Contains(out, `/bad.yaml:2: ecr.refresh_interval: "6x" is not a duration`) || !strings.Contains(out, "is invalid") {
		t.Errorf("bad config: exit %d:\n%s", code, out)
	}
	// The package's commented default is left in place.
	if got, err := os.ReadFile(n.config); err != nil || strings.Contains(string(got), "6x") {
		t.Errorf("a bad config was installed (%v):\n%s", err, got)
	}
	if calls := n.calls(t); strings.Contains(calls, "systemctl") {
		t.Errorf("service touched after a bad config:\n%s", calls)
	}

	out, code = n.bootstrap(t, pkgURL, "--sha256", strings.Repeat("0", 64), "--timeout", "1")
	if code != 1 || !strings.Contains(out, "sha256 is "+fileDigest(t, p.rpm)+", expected "+strings.Repeat("0", 64)) {
		t.Errorf("bad digest: exit %d:\n%s", code, out)
	}
	if calls := n.calls(t); calls != "" {
		t.Errorf("something ran after a digest mismatch:\n%s", calls)
	}
	out, code = n.bootstrap(t, pkgURL, "--config", bad, "--registries", "x")
	if code != 1 || !strings.Contains(out, "not both") {
		t.Errorf("--config with --registries: exit %d:\n%s", code, out)
	}
}

// The deb path: {debarch} is expanded, apt-get installs it, and a config
// given by URL is validated and installed.
func TestBootstrapDebWithConfig(t *testing.T) {
	p := packages(t)
	n := newNode(t, p)
	conf := "pyxis:\n  plugstack_managed: false\n"
	confURL := n.serve(t, "compute.yaml", conf)
	name := strings.Replace(filepath.Base(p.deb), "_"+debArch+".deb", "_{debarch}.deb", 1)
	out, code := n.bootstrap(t, n.url+"/"+name, "--config", confURL, "--sha256", fileDigest(t, p.deb), "--timeout", "1")
	if code != 1 || !strings.Contains(out, "its verify output") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	calls := n.calls(t)
	if !strings.Contains(calls, "apt-get install -y -q -o Dpkg::Options::=--force-confold ") || !strings.Contains(calls, "_"+debArch+".deb") {
		t.Errorf("calls:\n%s", calls)
	}
	if got, _ := os.ReadFile(n.config); string(got) != conf {
		t.Errorf("config %q, want %q", got, conf)
	}
}

// s3:// locations go through the AWS CLI, with {arch} expanded.
func TestBootstrapFromS3(t *testing.T) {
	p := packages(t)
	n := newNode(t, p)
	bucket := filepath.Join(n.dir, "s3/bucket/enroot-agent")
	run(t, "install", "-D", "-m", "0644", p.rpm, filepath.Join(bucket, filepath.Base(p.rpm)))
	writeFile(t, filepath.Join(bucket, "compute-node.yaml"), "pyxis:\n  plugstack_managed: false\n", 0o644)
	name := strings.Replace(filepath.Base(p.rpm), "."+rpmArch+".rpm", ".{arch}.rpm", 1)
	out, code := n.bootstrap(t, "s3://bucket/enroot-agent/"+name, "--config", "s3://bucket/enroot-agent/compute-node.yaml", "--timeout", "1")
	if code != 1 || !strings.Contains(out, "its verify output") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	calls := n.calls(t)
	for _, c := range []string{
		"aws s3 cp --only-show-errors s3://bucket/enroot-agent/" + filepath.Base(p.rpm) + " ",
		"aws s3 cp --only-show-errors s3://bucket/enroot-agent/compute-node.yaml ",
		"dnf -y -q install ", "systemctl restart --no-block enroot-agent.service",
	} {
		if !strings.Contains(calls, c) {
			t.Errorf("no %q in calls:\n%s", c, calls)
		}
	}
}

func fileDigest(t *testing.T, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
