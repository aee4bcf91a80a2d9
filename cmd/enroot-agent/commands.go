package main

import (
	"flag"
	"fmt"
	"runtime"
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
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(g.stderr)
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		fmt.Fprintf(g.stderr, "usage: enroot-agent %s\n", name)
		return exitUnknown, false
	}
	return 0, true
}
