package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// The shared credentials file is what every job needs, so the daemon puts
// it back from the tokens it holds (no ECR call) whatever else fails: a
// plugin that cannot build, an enroot.conf made immutable, a sandbox whose
// enroot is not the agent's to install. Each state is real, and checked to
// fail before the file is deleted. (That the restore comes within one
// verify.interval and waits for no converge is proved on the loop's own
// clock in pkg/agent, TestCredentialsRestoredWithinOneInterval.)
func TestDaemonRestoresCredentialsWhileStepsFail(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, root string)
		// failing is the log line saying the state holds.
		failing string
	}{
		{"plugin cannot build", func(t *testing.T, root string) {
			slurmAt(t, root, slurmA)
			renameIn(t, filepath.Join(root, "usr/include/slurm/spank.h"), []byte("#error this node's spank.h is broken\n"), 0o644)
		}, `"msg":"step failed","step":"pyxis-build"`},
		{"immutable enroot.conf", func(t *testing.T, root string) {
			conf := filepath.Join(root, "etc/enroot/enroot.conf")
			testenv.MkdirAll(t, filepath.Dir(conf), 0o755)
			testenv.WriteFile(t, conf, []byte("ENROOT_RUNTIME_PATH /tmp/somewhere-else\n"), 0o644)
			if out, err := exec.Command("chattr", "+i", conf).CombinedOutput(); err != nil {
				t.Fatalf("chattr +i (install the Debian package e2fsprogs): %v\n%s", err, out)
			}
			t.Cleanup(func() { _ = exec.Command("chattr", "-i", conf).Run() })
		}, `"msg":"step failed","step":"enroot-conf"`},
		{"--root sandbox without enroot, enroot.install false", func(t *testing.T, root string) {
			if out, err := exec.Command("dpkg", "--root="+root, "--purge", "enroot+caps", "enroot").CombinedOutput(); err != nil {
				t.Fatalf("dpkg --purge: %v\n%s", err, out)
			}
			appendConfig(t, root, "enroot:\n  install: false\n")
		}, `"msg":"check fail","check":"enroot-`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root, listen, bus := healthyNode(t, "  interval: 10s\n")
			c.damage(t, root)
			a := startAgent(t, root, listen, 0, bus)
			a.waitNotify(0, "READY=1", 90*time.Second)
			a.waitLog(c.failing, 30*time.Second)
			creds := filepath.Join(root, "run/enroot-agent/enroot-config/.credentials")
			want, err := os.ReadFile(creds)
			if err != nil {
				t.Fatal(err)
			}
			calls := awsFor(t).ecr.Calls("us-east-1")
			if err := os.Remove(creds); err != nil {
				t.Fatal(err)
			}
			if !fake.Eventually(90*time.Second, func() bool { _, err := os.Stat(creds); return err == nil }) {
				t.Fatal("the credentials file was not restored")
			}
			a.waitLog(`"msg":"restored the credentials files from the tokens held (no ECR call)"`, 5*time.Second)
			if got, _ := os.ReadFile(creds); string(got) != string(want) {
				t.Fatalf("restored file differs from the one deleted")
			}
			if n := awsFor(t).ecr.Calls("us-east-1"); n != calls {
				t.Fatalf("%d ECR calls to restore the file, want none", n-calls)
			}
			if !strings.Contains(a.log.String(), c.failing) {
				t.Fatal("the failing state did not hold")
			}
		})
	}
}

// The daemon logs what it changes on the credentials file, as apply does:
// a reload that sets credentials.group changes group and mode, and a file
// whose group an admin changed by hand is put back, each logged.
func TestDaemonLogsCredentialsModeAndGroup(t *testing.T) {
	root, listen, bus := healthyNode(t, "  interval: 10s\n")
	a := startAgent(t, root, listen, 0, bus)
	_, ri := a.waitNotify(0, "READY=1", 90*time.Second)
	appendConfig(t, root, "credentials:\n  group: users\n")
	a.signal(syscall.SIGHUP)
	a.waitNotify(ri+1, "READY=1", 60*time.Second)
	a.waitLog(`"msg":"credentials file changed","path":"`+filepath.Join(root, "run/enroot-agent/enroot-config/.credentials")+
		`","changes":"mode 0644 -> 0640, group 0 -> 100, directory mode 0755 -> 0750, directory group 0 -> 100"`, 5*time.Second)
	if err := os.Chown(filepath.Join(root, "run/enroot-agent/enroot-config/.credentials"), -1, 0); err != nil {
		t.Fatal(err)
	}
	a.waitLog(`"changes":"group 0 -> 100"`, 30*time.Second)
}
