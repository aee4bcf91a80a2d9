// Package realchain holds the test of the whole chain on this machine's real
// root: the real agent, the real Enroot and Pyxis, real Slurm daemons, a
// real registry and a non-root user's srun --container-image.
package realchain

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
	"github.com/enroot-agent/enroot-agent/internal/realchain"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// TestRealChain is what the agent is for: after `enroot-agent apply` on a
// node, any user's `srun --container-image=<ECR host>#repo:tag` runs the
// image, with no setup of their own. It runs on the real root, because
// slurmstepd and Pyxis run the real /usr/bin/enroot, which reads the real
// /etc/enroot/enroot.conf; realchain.Chain says how the registry is reached
// and realchain.Guard puts the machine back (packages, files, sysctls, users).
func TestRealChain(t *testing.T) {
	c, err := realchain.Start(testenv.Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAndCheckHost(t, c) })
	var printed strings.Builder
	apply := func(what string) string {
		t.Helper()
		out, errOut, code := c.Agent("apply")
		printed.WriteString(out + errOut)
		if code != 0 {
			t.Fatalf("%s apply on the real root: exit %d\n%s%s", what, code, out, errOut)
		}
		return out
	}

	airGapped(t, c)
	out := apply("the first")
	// Every line of the summary: the steps and the credentials refresh.
	steps := len(regexp.MustCompile(`(?m)^[~✓] [a-z-]+ +(changed|done)`).FindAllString(out, -1))
	if steps < 10 {
		t.Fatalf("the first apply's summary lists %d steps:\n%s", steps, out)
	}
	for _, want := range []string{"enroot-packages  changed: install enroot " + pkgrepo.RealEnrootVersion, "pyxis-build"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the first apply does not say %q:\n%s", want, out)
		}
	}
	if err := c.StartSlurm(); err != nil {
		t.Fatal(err)
	}
	if err := c.AddUser(); err != nil {
		t.Fatal(err)
	}
	srunOK(t, c, "with the agent's token")
	if c.Proxy.Tunnels() == 0 {
		t.Fatal("srun printed the file but enroot never went through the proxy to the registry: the image came from elsewhere")
	}

	// A converged node: every step done, none of the agent's files touched.
	before := snapshot(t, c.AgentFiles())
	out = apply("the second")
	if changed := testenv.Changed(before, snapshot(t, c.AgentFiles())); len(changed) > 0 {
		t.Fatalf("the second apply changed %v\n%s", changed, out)
	}
	if done := stepLines.FindAllString(out, -1); len(done) != steps {
		t.Fatalf("the second apply: %d steps done, want all %d\n%s", len(done), steps, out)
	}

	// The registry now wants another password: the same srun must fail, on
	// authentication, so the success above was the agent's token at work.
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	next := "ecr" + hex.EncodeToString(b)
	if err := c.Registry.SetPassword(next); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := c.Srun(ctxFor(t, 2*time.Minute))
	// enroot logs "Authentication succeeded" after the registry accepted the
	// credentials; here it must stop right after trying them.
	if err == nil || strings.Contains(stdout, c.Want) || !strings.Contains(stderr, "Authenticating with user: AWS") ||
		strings.Contains(stderr, "Authentication succeeded") {
		t.Fatalf("srun with a wrong token: err %v, want a failed authentication\nstdout: %s\nstderr: %s", err, stdout, stderr)
	}
	// ECR hands out the new password; a refresh puts it where enroot reads.
	c.ECR.SetPassword(next)
	rout, rerr, code := c.Agent("refresh")
	printed.WriteString(rout + rerr)
	if code != 0 {
		t.Fatalf("refresh: exit %d\n%s%s", code, rout, rerr)
	}
	srunOK(t, c, "after the refresh")

	for _, tok := range []string{c.Token(), next} {
		if strings.Contains(printed.String(), tok) {
			t.Fatal("a token appears in the agent's output")
		}
	}
}

// airGapped runs apply with the real apt-get unable to reach any
// repository (no sources, empty package lists): it must fail naming what
// is missing, and leave enroot not installed, not unpacked-but-broken.
func airGapped(t *testing.T, c *realchain.Chain) {
	t.Helper()
	lists := filepath.Join(c.Dir, "apt-lists")
	if err := os.MkdirAll(filepath.Join(lists, "partial"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(c.Dir, "apt-offline.conf")
	offline := `Dir::Etc::sourcelist "/dev/null";` + "\n" + `Dir::Etc::sourceparts "/nonexistent";` + "\n" +
		`Dir::State::lists "` + lists + `";` + "\n"
	if err := os.WriteFile(conf, []byte(offline), 0o644); err != nil {
		t.Fatal(err)
	}
	env := c.Env
	c.Env = append(append([]string{}, env...), "APT_CONFIG="+conf)
	out, errOut, code := c.Agent("apply")
	c.Env = env
	// One error, the package step's, names every prerequisite and every
	// dependency of the .debs that this machine lacks.
	var want []string
	for _, p := range []string{"squashfs-tools", "jq", "parallel", "pigz", "zstd", "curl"} {
		if !installed(p) {
			want = append(want, p)
		}
	}
	if !installed("bsdmainutils") {
		want = append(want, "bsdmainutils (needed by enroot "+pkgrepo.RealEnrootVersion)
	}
	line := ""
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[1] == "enroot-packages" {
			line = l
		}
	}
	for _, w := range want {
		if code != 1 || !strings.Contains(line, "failed: nothing was installed: Enroot needs ") || !strings.Contains(line, w) {
			t.Fatalf("air-gapped apply: exit %d, want 1 with enroot-packages naming %q\n%s%s", code, w, out, errOut)
		}
	}
	if st, _ := exec.Command("dpkg-query", "-W", "-f=${db:Status-Abbrev}", "enroot").Output(); installed("enroot") || strings.HasPrefix(string(st), "iU") {
		t.Fatalf("air-gapped apply left enroot %q", st)
	}
}

func installed(pkg string) bool {
	out, err := exec.Command("dpkg-query", "-W", "-f=${db:Status-Status}", pkg).Output()
	return err == nil && string(out) == "installed"
}

// stepLines are the summary lines of steps with nothing to do.
var stepLines = regexp.MustCompile(`(?m)^✓ [a-z-]+ +done`)

// srunOK runs the user's srun and wants the file's content from the image.
func srunOK(t *testing.T, c *realchain.Chain, when string) {
	t.Helper()
	stdout, stderr, err := c.Srun(ctxFor(t, 2*time.Minute))
	if err != nil || strings.TrimSpace(stdout) != c.Want {
		t.Fatalf("as user %s, %s %s: %v\nstdout: %q\nstderr: %s\n%s",
			c.User, c.SrunLine(), when, err, stdout, stderr, c.Redact(c.Slurm.Logs()))
	}
}

func snapshot(t *testing.T, paths []string) map[string]testenv.FileID {
	t.Helper()
	all := map[string]testenv.FileID{}
	for _, p := range paths {
		if _, err := os.Lstat(p); err != nil {
			t.Fatalf("the agent's %s: %v", p, err)
		}
		for k, v := range testenv.Snapshot(t, p) {
			all[k] = v
		}
	}
	return all
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// closeAndCheckHost undoes the chain and checks that Enroot is gone.
func closeAndCheckHost(t *testing.T, c *realchain.Chain) {
	if err := c.Close(); err != nil {
		t.Errorf("the host is not restored: %v", err)
	}
	if out, err := exec.Command("dpkg-query", "-W", "-f=${db:Status-Status}", "enroot").Output(); err == nil && string(out) != "not-installed" {
		t.Errorf("enroot is still %s after the test", out)
	}
	for _, p := range []string{"/etc/enroot", "/usr/bin/enroot", "/run/enroot-agent", "/usr/local/lib/slurm/spank_pyxis.so"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s is still there after the test", p)
		}
	}
}
