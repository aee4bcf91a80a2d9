// Command enroot-agent-front is what the packages install as
// /usr/bin/enroot-agent. It answers, itself, the commands that run on a
// job's path or as often as a probe asks: Pyxis's importer (`get URI`,
// `release`, `importer get|release`, as the job's user at every container
// start), `verify` when the daemon answers on its root-only socket (Slurm's
// HealthCheckProgram), and `version`. Everything else, and any of those it
// cannot answer exactly as the agent would, it hands to the agent: it execs
// the full binary, ../libexec/enroot-agent/enroot-agent from its own
// directory, with the same arguments and environment, so the agent runs in
// the same process (the same PID for systemd's Type=notify and watchdog).
//
// Why two binaries: the agent links Prometheus, zap and go-containerregistry
// (and linked the AWS SDK, now in its own helper, cmd/enroot-agent-aws),
// whose package initialisers alone took about 50 ms of every start on the
// 2-core build machine (issue 25), and that start
// was paid up to three times per job step on every node. This binary links
// the standard library, pkg/importer and pkg/verify only (a test holds it
// to that), so it starts like a small tool.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/importer"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// version is set by the Makefile from git describe, as the agent's.
var version = "dev"

// FullBinary is where the agent is, relative to this binary's directory:
// /usr/libexec/enroot-agent/enroot-agent beside /usr/bin/enroot-agent in
// the packages, libexec/enroot-agent/enroot-agent beside bin/ for `make
// build` and the tests' builds.
const FullBinary = "../libexec/enroot-agent/enroot-agent"

// verifyWait bounds the wait for the daemon's report: the agent waits
// verify.timeout plus 5 s, and this binary does not read the config, so it
// waits as long as the agent does with verify.timeout at its default
// (20 s). A daemon that has not answered by then is asked again by the
// agent, with the configured bound, and joins the evaluation in flight.
const verifyWait = 25 * time.Second

func main() {
	code, ok := run(os.Args[1:], os.Stdout, os.Stderr)
	if !ok {
		code = execAgent(os.Args, os.Stderr)
	}
	os.Exit(code)
}

// run answers the commands this binary handles and returns their exit
// code; ok is false when the agent must answer instead (another command,
// a flag this binary does not take, a daemon that did not answer).
func run(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	g, rest, ok := parseGlobals(args)
	if !ok || len(rest) == 0 {
		return 0, false
	}
	switch cmd, args := rest[0], rest[1:]; cmd {
	case "version":
		if len(args) > 0 {
			return 0, false
		}
		fmt.Fprintf(stdout, "enroot-agent %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0, true
	case "importer":
		if len(args) == 0 {
			fmt.Fprintln(stderr, importer.Usage)
			return 2, true
		}
		return importerRun(g, args[0], args[1:], stdout, stderr), true
	case "get", "release":
		return importerRun(g, cmd, args, stdout, stderr), true
	case "verify":
		return verifyRun(g, args, stdout)
	}
	return 0, false
}

// globals are the agent's flags before the command; set says which were
// given.
type globals struct {
	root string
	set  map[string]bool
}

// parseGlobals parses the agent's global flags as the agent does. A parse
// error (or -h) is the agent's to report, with its usage.
func parseGlobals(args []string) (globals, []string, bool) {
	fs := flag.NewFlagSet("enroot-agent", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("config", "", "")
	root := fs.String("root", "/", "")
	fs.String("log-format", "", "")
	fs.Bool("debug", false, "")
	if fs.Parse(args) != nil {
		return globals{}, nil, false
	}
	g := globals{set: map[string]bool{}}
	fs.Visit(func(f *flag.Flag) { g.set[f.Name] = true })
	abs, err := filepath.Abs(*root)
	if err != nil {
		return globals{}, nil, false
	}
	g.root = abs
	return g, fs.Args(), true
}

// path is hostPath under --root, as config.Root.Path makes it.
func (g globals) path(hostPath string) string {
	if g.root == "/" {
		return filepath.Clean(hostPath)
	}
	return filepath.Join(g.root, filepath.Clean("/"+hostPath))
}

// importerRun runs as the job's user; the agent's importer command is the
// same code (importer.Importer.Command). It installs no signal handler:
// the fallback import, the one child an interrupt must end, installs its
// own (os/signal's watcher, a thread parked in the runtime, cost 0.3 ms of
// each 4.5 ms start, issue 25).
func importerRun(g globals, op string, args []string, stdout, stderr io.Writer) int {
	im := &importer.Importer{Socket: g.path(importer.DefaultSocket), Getenv: os.Getenv, Stderr: stderr}
	return im.Command(context.Background(), op, args, stdout)
}

// verifyRun prints the daemon's report as `verify [--json]` does when the
// daemon answers. Whatever needs the config (--config, --drain, --local,
// --debug's log lines, --log-format's check) or the local checks is the
// agent's.
func verifyRun(g globals, args []string, stdout io.Writer) (int, bool) {
	if g.set["config"] || g.set["debug"] || g.set["log-format"] {
		return 0, false
	}
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "")
	if fs.Parse(args) != nil || fs.NArg() > 0 {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), verifyWait)
	defer cancel()
	rep, err := verify.Ask(ctx, g.path(verify.DaemonSocket))
	if err != nil {
		return 0, false
	}
	if *asJSON {
		_ = verify.WriteJSON(stdout, rep)
	} else {
		verify.WriteTable(stdout, rep, "by the daemon on "+verify.DaemonSocket)
	}
	return int(rep.Status), true
}

// execAgent replaces this process with the full agent, same arguments and
// environment (but agentEnv's GOGC); it returns only when that fails.
func execAgent(argv []string, stderr io.Writer) int {
	path, err := agentPath()
	if err == nil {
		err = syscall.Exec(path, argv, agentEnv(argv[1:], os.Environ()))
	}
	fmt.Fprintf(stderr, "enroot-agent: cannot start the agent %s: %v (the package installs it at /usr/libexec/enroot-agent/enroot-agent beside /usr/bin/enroot-agent; reinstall the package)\n", path, err)
	return 2
}

// shortGOGC is the collector's target for the agent's short commands
// (apply, refresh, validate, verify's own checks), and through their
// environment for the AWS helpers they run. The AWS SDK's package
// initialisers (in the helper since issue 25; awsproc gives the daemon's
// helpers the same) allocate 3.7 MB of tables before main, just under the
// default first target (4 MB), so every such start collected once, during
// its initialisers, freeing nothing: 3-5 ms of a 30 ms warm apply on two
// cores (BENCHMARKS.md row 1). At 400 the first target is 16 MB, more than
// such a command allocates in all. The daemon (run) keeps the default: it
// lives for days and its resident memory counts (row 5).
const shortGOGC = "400"

// agentEnv is env for the agent running args: GOGC=shortGOGC added for
// any command but run, unless the environment sets GOGC already (the
// admin's choice stands).
func agentEnv(args, env []string) []string {
	if _, rest, ok := parseGlobals(args); ok && len(rest) > 0 && rest[0] == "run" {
		return env
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "GOGC=") {
			return env
		}
	}
	return append(env[:len(env):len(env)], "GOGC="+shortGOGC)
}

// agentPath is the full binary's path, found from this binary's own, so a
// build tree, a test's temporary directory and the packages all work.
func agentPath() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find this binary: %w", err)
	}
	return filepath.Join(filepath.Dir(exe), FullBinary), nil
}
