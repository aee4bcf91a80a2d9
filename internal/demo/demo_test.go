package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/fake"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// TestDemo runs `make demo`'s program end to end, so the README's first
// command cannot rot: every stand-in starts, the node converges, a second
// apply does nothing, and a user's pull, srun and the daemon all work.
func TestDemo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the demo installs packages into a sandbox and on this machine, and creates a user: run make test as root")
	}
	dir, err := os.MkdirTemp("", "demo-test-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	demo := filepath.Join(t.TempDir(), "demo")
	if out, err := exec.Command(fake.GoTool(), "build", "-o", demo, ".").CombinedOutput(); err != nil {
		t.Fatalf("build demo: %v\n%s", err, out)
	}
	cmd := exec.Command(demo, testenv.Binary(t))
	cmd.Env = append(os.Environ(), "DEMO_DIR="+filepath.Join(dir, "node"))
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`~ enroot-packages  changed: install enroot 4\.1\.2`),
		regexp.MustCompile(`~ slurmd-restart   changed`),
		regexp.MustCompile(`(?m)(^✓ [a-z-]+ +done\n){13}`),
		regexp.MustCompile(`node \S+: ok \(\d+ ok\), checked locally`),
		regexp.MustCompile(`HTTP 200 digest sha256:[0-9a-f]{64}`),
		regexp.MustCompile(`--container-image=IMAGE`),
		regexp.MustCompile(`status.*ready: enroot 4\.1\.2, pyxis 0\.24\.0`),
		regexp.MustCompile(`/verify\S*\n HTTP 200|HTTP 200\n\{\n  "status": "ok"`),
	} {
		if !want.MatchString(out) {
			t.Errorf("demo output lacks %s", want)
		}
	}
	// The real chain: a non-root user's srun printing the file from the
	// image, pulled with the agent's token.
	chain := regexp.MustCompile(`\$ runuser -u earc[0-9a-f]+ -- srun --container-image=123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com#ml/hello:v1 cat /etc/greeting\S*\n` +
		`hello from 123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com [0-9a-f]{8}\n`)
	if !chain.MatchString(out) {
		t.Errorf("the real chain's srun does not print from the image:\n%s", tail(out, 3000))
	}
	// The demo ends on the cluster: systemctl status of a compute node, then
	// the user's srun -N3 printing from the image on every compute node.
	status := regexp.MustCompile(`(?s)\$ systemctl status enroot-agent\S*\n.*Active: active \(running\).*Status: "ready: enroot 4\.1\.2, pyxis 0\.24\.0`)
	last := regexp.MustCompile(`srun -N3 --container-image=123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com#ml/hello:v1 sh -c .*\S*\n` +
		`(hello from 123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com [0-9a-f]{8} on compute[1-3]\n){3}$`)
	if !status.MatchString(out) || !last.MatchString(out) {
		t.Errorf("the demo does not end with a compute node's systemctl status and srun -N3 printing from the image on each node:\n%s",
			tail(out, 3000))
	}
	if strings.Contains(out, "(exit:") {
		t.Errorf("a demo command failed:\n%s", out)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
