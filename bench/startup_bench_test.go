package bench

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// startRuns is how many paired runs of each command one benchmark run takes.
const startRuns = 31

// BenchmarkStartup: what the job path pays per process (issue 25), each
// command paired, run for run, with a Go program whose main is empty, built
// the same way (CGO off, -trimpath, -s -w), so the ratios hold on a busy
// machine. On a converged sandbox with the daemon running and images.cache
// on: `importer release` of a step that holds nothing, `importer get` on a
// cache hit (digest by a stand-in enroot, the daemon's manifest check
// against a registry on loopback, the hold), `verify` answered by the
// daemon over its root-only socket, and `version`. The importer runs as
// Pyxis runs it, under a root process titled as a step's slurmstepd (this
// machine's bash under that name), since the daemon holds images for job
// steps only; its partner is the empty program under the same shell, and
// its ratio is of the importer's own time: (importer − empty) / empty + 1,
// with both under the shell.
func BenchmarkStartup(b *testing.B) {
	for i := 0; i < b.N; i++ {
		s := newStartupRig(b)
		hello := helloWorld(b)
		version := s.pair(b, []string{s.n.bin, "version"}, []string{hello}, false)
		if out, _ := exec.Command(s.n.bin, "--root", s.n.root, "verify").Output(); !strings.Contains(string(out), "checked by the daemon on") {
			b.Fatalf("verify did not ask the daemon:\n%s", out)
		}
		verify := s.pair(b, []string{s.n.bin, "--root", s.n.root, "verify"}, []string{hello}, false)
		release := s.pair(b, []string{s.n.bin, "--root", s.n.root, "importer", "release"}, []string{hello}, true)
		get := s.pair(b, []string{s.n.bin, "--root", s.n.root, "importer", "get", s.uri}, []string{hello}, true)
		digest := s.pair(b, []string{filepath.Join(s.fakeBin, "enroot"), "digest", s.uri}, []string{hello}, false)
		for _, r := range []struct {
			name string
			p    paired
		}{{"version", version}, {"verify", verify}, {"release", release}, {"get_hit", get}} {
			b.ReportMetric(ms(r.p.cmd), r.name+"_ms")
			b.ReportMetric(r.p.ratio(), r.name+"/hello")
		}
		b.ReportMetric(ms(version.hello), "hello_ms")
		b.ReportMetric(ms(get.shell), "step_shell_ms")
		// get without its `enroot digest` (here a stand-in shell script;
		// the real one is bash and curl): the importer's start, the socket
		// round trip, the daemon's manifest check and the hold.
		b.ReportMetric(ms(digest.cmd), "digest_stub_ms")
		b.ReportMetric(float64(get.cmd-digest.cmd)/float64(get.hello), "get_hit_no_digest/hello")
	}
}

type startupRig struct {
	n        *node
	uri      string
	stepd    string
	fakeBin  string
	env      []string
	stepdEnv []string
}

// newStartupRig converges a sandbox on a path only root can change (the
// cache refuses an images.dir below /tmp), starts the daemon with the
// image cache on, and makes the first get (the miss) so the rest are hits.
func newStartupRig(b *testing.B) *startupRig {
	b.Helper()
	dir, err := os.MkdirTemp("/var/cache", "enroot-agent-startup-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		b.Fatal(err)
	}
	s := &startupRig{n: newNodeAt(b, root)}
	uri, digest := testenv.PushLoopbackImage(b, "startup")
	s.uri = uri
	s.fakeBin = filepath.Join(dir, "bin")
	writeFile(b, filepath.Join(s.fakeBin, "enroot"), `#!/bin/sh
case "$1" in
digest) echo `+digest+` ;;
import) printf hsqs > "$3" ;;
*) echo "fake enroot: $*" >&2; exit 1 ;;
esac
`)
	for _, p := range []string{s.fakeBin, filepath.Join(s.fakeBin, "enroot")} {
		if err := os.Chmod(p, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	s.stepd = filepath.Join(dir, "slurmstepd")
	if out, err := exec.Command("install", "-m", "0755", "/bin/bash", s.stepd).CombinedOutput(); err != nil {
		b.Fatalf("%v: %s", err, out)
	}
	runtimeDir := filepath.Join(dir, "pyxis")
	if err := os.Mkdir(runtimeDir, 0o777); err != nil {
		b.Fatal(err)
	}
	cfg := filepath.Join(root, "etc/enroot-agent/config.yaml")
	old, _ := os.ReadFile(cfg)
	writeFile(b, cfg, string(old)+"images:\n  cache: true\n")
	s.n.apply(b)
	s.n.env = append(s.n.env, "PATH="+s.fakeBin+":"+os.Getenv("PATH"))
	startDaemon(b, s.n)
	s.stepdEnv = []string{"PATH=" + s.fakeBin + ":/usr/bin:/bin", "SLURM_JOB_ID=7", "SLURM_STEP_ID=0",
		"SLURM_JOB_UID=0", "PYXIS_RUNTIME_PATH=" + runtimeDir}
	if !fake.Eventually(60*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(root, "run/enroot-agent/images.sock"))
		return err == nil
	}) {
		b.Fatal("the daemon's image cache socket never appeared")
	}
	first := s.inStep([]string{s.n.bin, "--root", root, "importer", "get", uri})
	out, err := first.CombinedOutput()
	if err != nil || !strings.Contains(string(out), filepath.Join(root, "var/cache/enroot-agent-images")) {
		b.Fatalf("first get (the miss): %v\n%s", err, out)
	}
	hit := s.inStep([]string{s.n.bin, "--root", root, "importer", "get", uri})
	if out, err := hit.CombinedOutput(); err != nil || strings.Contains(string(out), "not used") {
		b.Fatalf("second get is not a hit: %v\n%s", err, out)
	}
	return s
}

// inStep runs argv under a root bash named slurmstepd, titled as step 7.0.
func (s *startupRig) inStep(argv []string) *exec.Cmd {
	cmd := exec.Command(s.stepd, append([]string{"-c", `"$@"; exit $?`, "slurmstepd"}, argv...)...)
	cmd.Args[0] = "slurmstepd: [7.0]"
	cmd.Env = s.stepdEnv
	return cmd
}

// paired is the medians of a command and of its partner, run in turn.
type paired struct{ cmd, hello, shell time.Duration }

// ratio is the command's cost in units of the empty program: under the
// step's shell, the shell's own start is taken out of both.
func (p paired) ratio() float64 { return float64(p.cmd) / float64(p.hello) }

// pair runs argv and the empty program in turn, startRuns times each. In a
// step (step), the empty program also runs under the step's shell in the
// same turn, and the shell's own start is taken out of argv's time.
func (s *startupRig) pair(b *testing.B, argv, helloArgv []string, step bool) paired {
	b.Helper()
	var cmd, hello, helloInStep []time.Duration
	for r := 0; r < startRuns; r++ {
		cmd = append(cmd, s.time(b, argv, step))
		hello = append(hello, s.time(b, helloArgv, false))
		if step {
			helloInStep = append(helloInStep, s.time(b, helloArgv, true))
		}
	}
	p := paired{cmd: median(cmd), hello: median(hello)}
	if step {
		p.shell = median(helloInStep) - p.hello
		p.cmd -= p.shell
	}
	return p
}

func (s *startupRig) time(b *testing.B, argv []string, step bool) time.Duration {
	var cmd *exec.Cmd
	if step {
		cmd = s.inStep(argv)
	} else {
		cmd = exec.Command(argv[0], argv[1:]...)
		cmd.Env = s.n.env
	}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() <= 2 {
		err = nil // verify's verdict on the sandbox: 1 fail, 2 unknown
	}
	if err != nil {
		b.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	return took
}

// helloWorld is a Go program with an empty main, built as the packages
// build the agent.
func helloWorld(b *testing.B) string {
	dir := b.TempDir()
	writeFile(b, filepath.Join(dir, "go.mod"), "module hello\n\ngo 1.22\n")
	writeFile(b, filepath.Join(dir, "main.go"), "package main\n\nfunc main() {}\n")
	out := filepath.Join(dir, "hello")
	cmd := exec.Command(fake.GoTool(), "build", "-trimpath", "-ldflags", "-s -w -X main.version=bench", "-o", out, ".")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build hello: %v\n%s", err, msg)
	}
	return out
}
