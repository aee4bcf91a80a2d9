package main

import (
	"context"
	"fmt"
	"os"

	"github.com/enroot-agent/enroot-agent/pkg/importer"
)

func cmdGet(g *globals, args []string) int     { return importerRun(g, "get", args) }
func cmdRelease(g *globals, args []string) int { return importerRun(g, "release", args) }

func cmdImporter(g *globals, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(g.stderr, importer.Usage)
		return exitUnknown
	}
	return importerRun(g, args[0], args[1:])
}

// importerRun runs as the job's user. The front binary (cmd/enroot-agent-
// front) answers these commands itself; this is the same code for the
// full binary run by its own path: only get, which runs enroot as
// children, ends on an interrupt through its context.
func importerRun(g *globals, op string, args []string) int {
	ctx, stop := context.Background(), context.CancelFunc(func() {})
	if op == "get" {
		ctx, stop = interruptible()
	}
	defer stop()
	im := &importer.Importer{Socket: g.root.Path(importer.DefaultSocket), Getenv: os.Getenv, Stderr: g.stderr}
	return im.Command(ctx, op, args, g.stdout)
}
