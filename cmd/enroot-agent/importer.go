package main

import (
	"fmt"
	"os"

	"github.com/enroot-agent/enroot-agent/pkg/importer"
)

// Pyxis runs its importer as `<importer> get URI` and `<importer> release`
// (importers/README.md), so with images.importer at this binary, `get` and
// `release` are top-level commands too; `importer get|release` says the
// same for people.
func init() {
	commands["importer"] = command{"Pyxis importer: `importer get URI` prints a cached squashfs, `importer release`", cmdImporter}
	commands["get"] = command{"", func(g *globals, args []string) int { return importerRun(g, "get", args) }}
	commands["release"] = command{"", func(g *globals, args []string) int { return importerRun(g, "release", args) }}
	commandOrder = append(commandOrder, "importer")
}

func cmdImporter(g *globals, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(g.stderr, importer.Usage)
		return exitUnknown
	}
	return importerRun(g, args[0], args[1:])
}

// importerRun runs as the job's user. The front binary (cmd/enroot-agent-
// front) answers these commands itself; this is the same code for the
// full binary run by its own path.
func importerRun(g *globals, op string, args []string) int {
	ctx, stop := interruptible()
	defer stop()
	im := &importer.Importer{Socket: g.root.Path(importer.DefaultSocket), Getenv: os.Getenv, Stderr: g.stderr}
	return im.Command(ctx, op, args, g.stdout)
}
