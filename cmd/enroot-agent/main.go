// Command enroot-agent keeps a Slurm compute node able to run containers from
// Amazon ECR: it installs Enroot and Pyxis, wires them into Slurm and keeps
// registry credentials fresh for every user's jobs.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/enroot-agent/enroot-agent/internal/logging"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// version is set by the Makefile from git describe.
var version = "dev"

// Exit codes: a failed check or step is 1; "cannot tell" (bad usage, an
// unknown command, a check that cannot decide) is 2, as node-problem-detector
// does.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUnknown = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// globals are the flags that come before the command.
type globals struct {
	configPath string
	explicit   bool
	root       config.Root
	logFormat  string
	debug      bool
	stdout     io.Writer
	stderr     *os.File
}

func run(args []string, stdout io.Writer, stderr *os.File) int {
	g := globals{stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("enroot-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&g.configPath, "config", config.DefaultPath, "config `file`; a missing default file means built-in defaults")
	root := fs.String("root", "/", "re-root every host path under `dir` (tests, image builds)")
	fs.StringVar(&g.logFormat, "log-format", logging.Auto, "auto, console or json")
	fs.BoolVar(&g.debug, "debug", false, "log at debug level")
	fs.Usage = func() { usage(fs) }
	if err := fs.Parse(args); err != nil {
		return exitUnknown
	}
	fs.Visit(func(f *flag.Flag) { g.explicit = g.explicit || f.Name == "config" })
	// Resolved once: every path the agent opens is walked from /, so a
	// relative root would land under the host's / instead of here.
	abs, err := filepath.Abs(*root)
	if err != nil {
		fmt.Fprintf(stderr, "enroot-agent: --root %s: %v\n", *root, err)
		return exitUnknown
	}
	g.root = config.Root(abs)
	if fs.NArg() == 0 {
		usage(fs)
		return exitUnknown
	}
	cmd, ok := commandNamed(fs.Arg(0))
	if !ok {
		fmt.Fprintf(stderr, "enroot-agent: unknown command %q\n", fs.Arg(0))
		usage(fs)
		return exitUnknown
	}
	return cmd.run(&g, fs.Args()[1:])
}

// logger builds the zap logger for commands that log.
func (g *globals) logger() (*zap.Logger, error) {
	return logging.New(zapcore.Lock(g.stderr), logging.Options{
		Format:   g.logFormat,
		Journal:  isJournal(),
		Terminal: logging.IsTerminal(g.stderr),
		Debug:    g.debug,
	})
}

// readConfig reads and validates the config. The default path is a host
// path and follows --root; a file named with --config is the operator's and
// is read as given.
func (g *globals) readConfig() (config.Config, error) {
	path := g.configPath
	if !g.explicit {
		path = g.root.Path(path)
	}
	return config.Load(path, g.explicit)
}

// prepare loads the config and builds the logger, as every command that acts
// on the node starts. When either fails it has printed why, returns a nil
// logger and the exit code: invalid for a bad config, 2 for a bad flag.
func (g *globals) prepare(invalid int) (config.Config, *zap.Logger, int) {
	cfg, ok := g.load()
	if !ok {
		return cfg, nil, invalid
	}
	log, err := g.logger()
	if err != nil {
		fmt.Fprintf(g.stderr, "enroot-agent: %v\n", err)
		return cfg, nil, exitUnknown
	}
	return cfg, log, exitOK
}

// load reads and validates the config, printing every problem.
func (g *globals) load() (config.Config, bool) {
	c, err := g.readConfig()
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			fmt.Fprintf(g.stderr, "enroot-agent: %d problem(s) in the config; nothing was changed:\n%v\n", len(errs), err)
		} else {
			fmt.Fprintf(g.stderr, "enroot-agent: %v\n", err)
		}
		return c, false
	}
	return c, true
}

func isJournal() bool {
	ok, _ := journal.StderrIsJournalStream()
	return ok
}

func usage(fs *flag.FlagSet) {
	fmt.Fprintf(fs.Output(), "usage: enroot-agent [flags] command [command flags]\n\ncommands:\n")
	for _, c := range commands {
		if c.help != "" {
			fmt.Fprintf(fs.Output(), "  %-9s %s\n", c.name, c.help)
		}
	}
	fmt.Fprintf(fs.Output(), "\nflags:\n")
	fs.PrintDefaults()
}
