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
		fmt.Fprintln(g.stderr, "usage: enroot-agent importer get URI | importer release")
		return exitUnknown
	}
	return importerRun(g, args[0], args[1:])
}

// importerRun runs as the job's user. It prints the squashfs path on stdout
// and nothing else there: Pyxis reads its first line.
func importerRun(g *globals, op string, args []string) int {
	ctx, stop := interruptible()
	defer stop()
	im := &importer.Importer{Socket: g.root.Path(importer.DefaultSocket), Getenv: os.Getenv, Stderr: g.stderr}
	switch {
	case op == "get" && len(args) == 1:
		path, err := im.Get(ctx, args[0])
		if err != nil {
			fmt.Fprintf(g.stderr, "enroot-agent importer: %v\n", err)
			return exitFailed
		}
		fmt.Fprintln(g.stdout, path)
		return exitOK
	case op == "release" && len(args) == 0:
		_ = im.Release(ctx)
		return exitOK
	}
	fmt.Fprintln(g.stderr, "usage: enroot-agent importer get URI | importer release")
	return exitUnknown
}
