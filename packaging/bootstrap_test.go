package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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
	// --timeout 3 ended the wait: the default (900s) would take three
	// times this bound.
	if d := time.Since(start); d >= 5*time.Minute {
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
