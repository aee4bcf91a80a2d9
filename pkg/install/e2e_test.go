package install_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/fake/aws"
	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// node is a scratch root, the agent's config for it, and a PATH in which
// every package tool logs its calls: rpm, dpkg and dpkg-query log and run the
// real tool; dnf, yum and apt-get are internal/fake/pkgrepo's repository stubs (they fail
// as on a node with no reachable repository until online is called, then
// install generated packages into the root); apt-cache logs and fails.
type node struct {
	root, config, tools, calls string
	env                        []string
}

var realTools = []string{"rpm", "dpkg", "dpkg-query"}
var repoTools = []string{"apt-cache"}

func newNode(t *testing.T, root string) *node {
	t.Helper()
	n := &node{root: root, config: filepath.Join(t.TempDir(), "config.yaml"), tools: t.TempDir()}
	n.calls = filepath.Join(n.tools, "calls.log")
	for _, tool := range realTools {
		real, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("%s not found: install the Debian package rpm / dpkg", tool)
		}
		n.wrap(t, tool, fmt.Sprintf("exec %s \"$@\"", real))
	}
	for _, tool := range repoTools {
		n.wrap(t, tool, "echo 'E: Failed to fetch: no repository reachable (test stub)' >&2; exit 100")
	}
	if err := pkgrepo.WriteRepoStubs(n.tools, n.calls); err != nil {
		t.Fatal(err)
	}
	imds := testenv.StartIMDS(t, "123456789012", "us-east-1")
	ecr := testenv.StartECR(t)
	ecr.AccessKey = imds.AccessKey
	n.env = append(aws.CleanEnv(os.Environ()), aws.Env(imds, ecr, t.TempDir())...)
	n.env = append(n.env, "PATH="+n.tools+":"+os.Getenv("PATH"))
	return n
}

func (n *node) wrap(t *testing.T, tool, then string) {
	// One line per call, even when an argument holds a newline.
	script := fmt.Sprintf("#!/bin/sh\necho \"%s $*\" | tr '\\n' ' ' >> %s\necho >> %s\n%s\n", tool, n.calls, n.calls, then)
	if err := os.WriteFile(filepath.Join(n.tools, tool), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// realApt puts the real apt-get on the node's PATH in place of the
// repository stub, still logging each call: with the sandbox's empty
// sources it is an air-gapped node's apt-get ("Unable to locate package").
// A call without -o Dir= (the host's apt) is refused.
func (n *node) realApt(t *testing.T) {
	t.Helper()
	real := "/usr/bin/apt-get"
	if _, err := os.Stat(real); err != nil {
		t.Fatalf("apt-get not found: %v", err)
	}
	n.wrap(t, "apt-get", `case " $* " in *" Dir="*) ;; *) echo 'test: refusing apt-get on the host' >&2; exit 100 ;; esac
exec `+real+` "$@"`)
}

// changingCalls are the logged calls that could change the system: anything
// but a query of the package database.
func (n *node) changingCalls() []string {
	data, _ := os.ReadFile(n.calls)
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		query := strings.HasPrefix(line, "dpkg-query ") || strings.HasPrefix(line, "rpm ") && (strings.Contains(line, " -q ") || strings.Contains(line, " --test "))
		if line != "" && !query {
			out = append(out, line)
		}
	}
	return out
}

func (n *node) resetCalls() { os.Remove(n.calls) }

// online makes the repository stubs reach a repository (or not).
func (n *node) online(t *testing.T, on bool) {
	t.Helper()
	if err := pkgrepo.SetRepoOnline(n.tools, on); err != nil {
		t.Fatal(err)
	}
}

func (n *node) writeConfig(t *testing.T, yaml string) {
	t.Helper()
	if err := os.WriteFile(n.config, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
}

// apply runs the real binary and returns its report and log.
func (n *node) apply(t *testing.T, extra ...string) (string, string) {
	t.Helper()
	args := append([]string{"--config", n.config, "--root", n.root, "--log-format", "json", "apply"}, extra...)
	cmd := exec.Command(testenv.Binary(t), args...)
	cmd.Env = n.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
	}
	return out.String(), errb.String()
}

// verify runs the real binary's verify here (not through a daemon) and
// returns its report and exit status.
func (n *node) verify(t *testing.T) (string, int) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t), "--config", n.config, "--root", n.root, "verify", "--local")
	cmd.Env = n.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// step is the report line of one step.
func step(out, name string) string {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[1] == name {
			return line
		}
	}
	return "(no line for " + name + ")"
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// release serves the fixture packages of each version under v<version>/.
func release(t *testing.T, srv *pkgrepo.ArtifactServer, build func(testing.TB, string) map[string][]byte, versions ...string) map[string]string {
	sums := map[string]string{}
	for _, v := range versions {
		for name, data := range build(t, v) {
			srv.Put("v"+v+"/"+name, data)
			sums[name] = sum(data)
		}
	}
	return sums
}

func enrootYAML(version, source string, sums map[string]string, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "enroot:\n  version: %q\n  source: %q\n  checksums:\n", version, source)
	for name, s := range sums {
		fmt.Fprintf(&b, "    %q: %s\n", name, s)
	}
	return b.String() + extra
}

func installedVersion(t *testing.T, root, pkg string) string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "--root="+root, "-W", "-f=${Version}", pkg).CombinedOutput()
	if err != nil {
		return "none"
	}
	return string(out)
}
