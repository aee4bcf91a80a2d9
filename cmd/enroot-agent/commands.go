package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

type command struct {
	name string
	help string // "" keeps it out of the usage
	run  func(g *globals, args []string) int
}

// commands, in the order the usage lists them. A slice, not a map: the
// compiler lays it out in the binary, where a map is built at init.
//
// Pyxis runs its importer as `<importer> get URI` and `<importer> release`
// (importers/README.md), so with images.importer at this binary, `get` and
// `release` are top-level commands too; `importer get|release` says the
// same for people.
var commands = []command{
	{"run", "run as the node's daemon (systemd Type=notify)", cmdRun},
	{"apply", "converge the node once and exit (--dry-run prints the plan)", cmdApply},
	{"verify", "check the node (table, or --json; --drain)", cmdVerify},
	{"refresh", "refresh registry credentials now", cmdRefresh},
	{"validate", "check the config and exit", cmdValidate},
	{"version", "print the version", cmdVersion},
	{"importer", "Pyxis importer: `importer get URI` prints a cached squashfs, `importer release`", cmdImporter},
	{"get", "", cmdGet},
	{"release", "", cmdRelease},
}

// commandNamed is the command called name, ok false when there is none.
func commandNamed(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func cmdValidate(g *globals, args []string) int {
	if code, ok := noArgs(g, "validate", args); !ok {
		return code
	}
	if _, ok := g.load(); !ok {
		return exitFailed
	}
	fmt.Fprintln(g.stdout, "config OK")
	return exitOK
}

func cmdVersion(g *globals, args []string) int {
	if code, ok := noArgs(g, "version", args); !ok {
		return code
	}
	fmt.Fprintf(g.stdout, "enroot-agent %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}

func noArgs(g *globals, name string, args []string) (int, bool) {
	if !parsed(g.flags(name), args) {
		fmt.Fprintf(g.stderr, "usage: enroot-agent %s\n", name)
		return exitUnknown, false
	}
	return 0, true
}

// flags is a command's flag set; its usage and errors go to stderr.
func (g *globals) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(g.stderr)
	return fs
}

// parsed parses args, which must be flags only.
func parsed(fs *flag.FlagSet, args []string) bool {
	return fs.Parse(args) == nil && fs.NArg() == 0
}

// interruptible is a context that SIGTERM and SIGINT cancel: a command
// stopped by systemd or ^C kills what it started and exits.
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
