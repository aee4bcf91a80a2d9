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
	help string
	run  func(g *globals, args []string) int
}

var commandOrder = []string{"run", "apply", "verify", "refresh", "validate", "version"}

var commands = map[string]command{
	"run":      {"run as the node's daemon (systemd Type=notify)", cmdRun},
	"apply":    {"converge the node once and exit (--dry-run prints the plan)", cmdApply},
	"verify":   {"check the node (table, or --json; --drain)", cmdVerify},
	"refresh":  {"refresh registry credentials now", cmdRefresh},
	"validate": {"check the config and exit", cmdValidate},
	"version":  {"print the version", cmdVersion},
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
