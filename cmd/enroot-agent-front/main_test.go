package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
)

const module = "github.com/enroot-agent/enroot-agent/"

// The front starts at every container start of every job and at every
// health check: it links the standard library and these only. Any of the
// agent's heavy dependencies (the AWS SDK, zap, Prometheus,
// go-containerregistry) or pkg/config (YAML, its tables) would bring their
// package initialisers back into every start; so would go-digest (841
// allocations at init, a fifth of an empty Go program's run): the front
// checks a digest's form with pkg/imageref, the daemon checks its content.
var allowedDeps = []string{
	module + "cmd/enroot-agent-front",
	module + "internal/rootsock",
	module + "pkg/imageref",
	module + "pkg/importer",
	module + "pkg/verify",
	"golang.org/x/sys/unix",
}

func TestImportsStayLight(t *testing.T) {
	deps := testenv.Deps(t, false)
	if len(deps) < len(allowedDeps) {
		t.Fatalf("go list -deps found %d packages, fewer than the %d the front needs: %v", len(deps), len(allowedDeps), deps)
	}
	for _, dep := range deps {
		unixInternals := strings.HasPrefix(dep, "golang.org/x/sys/") && dep != "golang.org/x/sys/unix"
		if !unixInternals && !slices.Contains(allowedDeps, dep) {
			t.Errorf("the front binary depends on %s: keep it to the standard library and %v", dep, allowedDeps)
		}
	}
}

// The allow-list above keeps the AWS SDK out; this says so by name.
func TestFrontLinksNoAWSSDK(t *testing.T) {
	for _, dep := range testenv.Deps(t, false) {
		if strings.HasPrefix(dep, "github.com/aws/") {
			t.Errorf("the front links %s", dep)
		}
	}
}

// Nor does it link the standard library's heavy packages: net/http (and
// crypto/tls with it) made the front start 1.5 times as slow as an empty
// Go program (rootsock speaks HTTP/1.0 to the daemon instead), and regexp
// compiles its tables at every start.
var heavyStd = []string{"net/http", "crypto/tls", "crypto/x509", "regexp"}

func TestNoHeavyStandardPackages(t *testing.T) {
	deps := testenv.Deps(t, true)
	if !slices.Contains(deps, "net") || !slices.Contains(deps, "encoding/json") {
		t.Fatalf("go list -deps lists no net or encoding/json, which the front uses: %v", deps)
	}
	for _, dep := range heavyStd {
		if slices.Contains(deps, dep) {
			t.Errorf("the front binary links %s", dep)
		}
	}
}

// The front waits for the daemon as long as the agent does at the default
// verify.timeout (it does not read the config).
func TestVerifyWaitIsTheAgentsDefault(t *testing.T) {
	if want := config.Default().Verify.Timeout.D() + 5*time.Second; verifyWait != want {
		t.Errorf("verifyWait %v, want %v (the default verify.timeout plus the agent's 5 s)", verifyWait, want)
	}
}

func TestPathIsConfigRootPath(t *testing.T) {
	for _, root := range []string{"/", "/srv/node"} {
		for _, p := range []string{"/run/enroot-agent/verify.sock", "run/x", "/a/../b"} {
			if got, want := (globals{root: root}).path(p), config.Root(root).Path(p); got != want {
				t.Errorf("root %s, path %s: %s, want %s", root, p, got, want)
			}
		}
	}
}

// What the front answers itself, and what it leaves to the agent.
func TestRunAnswersOrHandsOver(t *testing.T) {
	for _, c := range []struct {
		args     []string
		answered bool
		code     int
		out      string
	}{
		{[]string{"version"}, true, 0, "enroot-agent dev ("},
		{[]string{"--root", "/x", "--debug", "version"}, true, 0, "enroot-agent dev ("},
		{[]string{"version", "extra"}, false, 0, ""},
		{[]string{"importer"}, true, 2, ""},
		{[]string{"importer", "frob"}, true, 2, ""},
		{[]string{"get"}, true, 2, ""},
		{[]string{"release", "x"}, true, 2, ""},
		{[]string{"apply"}, false, 0, ""},
		{[]string{"run"}, false, 0, ""},
		{[]string{"validate"}, false, 0, ""},
		{[]string{}, false, 0, ""},
		{[]string{"-h"}, false, 0, ""},
		{[]string{"--frob", "version"}, false, 0, ""},
		// verify: only [--root] verify [--json], and only when the daemon
		// answers (no daemon under this root).
		{[]string{"--root", t.TempDir(), "verify"}, false, 0, ""},
		{[]string{"verify", "--drain"}, false, 0, ""},
		{[]string{"verify", "--local"}, false, 0, ""},
		{[]string{"--config", "/x.yaml", "verify"}, false, 0, ""},
		{[]string{"--debug", "verify"}, false, 0, ""},
		{[]string{"--log-format", "json", "verify"}, false, 0, ""},
		{[]string{"verify", "extra"}, false, 0, ""},
	} {
		var out, errOut bytes.Buffer
		code, answered := run(c.args, &out, &errOut)
		if answered != c.answered || answered && (code != c.code || !strings.HasPrefix(out.String(), c.out)) {
			t.Errorf("%q: answered %v, exit %d, out %q, stderr %q; want answered %v, exit %d, out %q", c.args, answered, code, out.String(), errOut.String(), c.answered, c.code, c.out)
		}
	}
}

// Built as the packages build them: the front execs the agent beside it for
// what it does not answer, with the same arguments; alone, it says which
// file is missing and exits 2, and still answers the importer and version.
func TestExecsTheAgentBesideIt(t *testing.T) {
	bin := testenv.Binary(t)
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc/enroot-agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--root", root, "validate").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "config OK" {
		t.Fatalf("validate through the front: %v\n%s", err, out)
	}
	front, _ := exec.Command(bin, "version").Output()
	agent, _ := exec.Command(filepath.Join(filepath.Dir(bin), FullBinary), "version").Output()
	if string(front) != string(agent) || !strings.HasPrefix(string(front), "enroot-agent test (") {
		t.Errorf("version: front %q, agent %q: want both stamped alike", front, agent)
	}

	alone := filepath.Join(t.TempDir(), "enroot-agent")
	data, err := os.ReadFile(bin)
	if err != nil || os.WriteFile(alone, data, 0o755) != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(alone, "--root", root, "validate")
	out, err = cmd.CombinedOutput()
	missing := filepath.Join(filepath.Dir(alone), FullBinary)
	if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "cannot start the agent "+missing) {
		t.Errorf("validate without the agent: %v, want exit 2 naming %s\n%s", err, missing, out)
	}
	if out, err := exec.Command(alone, "version").Output(); err != nil || string(out) != string(front) {
		t.Errorf("version without the agent: %v %q", err, out)
	}
}

// The agent's short commands start with GOGC=400 (no collection during the
// SDK's initialisers); the daemon keeps Go's default, and an admin's GOGC
// is never overridden.
func TestAgentEnvSetsGOGCForShortCommands(t *testing.T) {
	base := []string{"PATH=/usr/bin", "HOME=/root"}
	for _, c := range []struct {
		args []string
		env  []string
		want string // GOGC in the agent's environment, "" for none
	}{
		{[]string{"apply"}, base, "400"},
		{[]string{"--root", "/sandbox", "--log-format", "json", "apply"}, base, "400"},
		{[]string{"refresh"}, base, "400"},
		{[]string{"verify", "--local"}, base, "400"},
		{[]string{"run"}, base, ""},
		{[]string{"--config", "/etc/x.yaml", "run"}, base, ""},
		{[]string{"apply"}, append(base, "GOGC=50"), "50"},
		{[]string{"run"}, append(base, "GOGC=off"), "off"},
	} {
		got := ""
		env := agentEnv(c.args, c.env)
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "GOGC="); ok {
				if got != "" {
					t.Errorf("%q: GOGC set twice: %q", c.args, env)
				}
				got = v
			}
		}
		if got != c.want {
			t.Errorf("%q with %q: GOGC %q, want %q", c.args, c.env, got, c.want)
		}
		if len(env) < len(c.env) || !slices.Equal(env[:len(c.env)], c.env) {
			t.Errorf("%q: the environment was not passed whole: %q", c.args, env)
		}
	}
}
