package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/node"
)

// cmdApply converges the node once, then refreshes the tokens that are missing
// or due. Exit 0 when every step is done and every registry has a token.
func cmdApply(g *globals, args []string) int {
	fs := g.flags("apply")
	dry := fs.Bool("dry-run", false, "print every change, with diffs, and change nothing")
	if !parsed(fs, args) {
		return exitUnknown
	}
	cfg, log, code := g.prepare(exitFailed)
	if log == nil {
		return code
	}
	defer log.Sync()
	ctx, stop := interruptible()
	defer stop()
	steps := node.New(cfg, g.root, log, nil).Steps()
	rep := (&converge.Runner{Log: log, DryRun: *dry}).Run(ctx, steps)
	printReport(g.stdout, rep, *dry)
	// Credentials do not depend on the install steps: a node whose Pyxis
	// build failed still gets tokens, and apply still exits 1.
	mode := refreshDue
	if *dry {
		mode = refreshDry
	}
	refreshed := refreshCredentials(ctx, g.stdout, cfg, g.root, log, mode)
	if rep.Err() != nil || !refreshed {
		return exitFailed
	}
	return exitOK
}

// mark is the sign an outcome's line starts with.
func mark(o converge.Outcome) string {
	switch o {
	case converge.Done:
		return "✓"
	case converge.Changed:
		return "~"
	case converge.Planned:
		return "+"
	case converge.Failed:
		return "✗"
	case converge.Blocked:
		return "-"
	case converge.Pending:
		return "!"
	}
	return ""
}

// printReport shows one line per step; a dry run adds each change and diff.
func printReport(w io.Writer, rep converge.Report, dry bool) {
	for _, r := range rep.Results {
		line := fmt.Sprintf("%s %-16s %s", mark(r.Outcome), r.Step, r.Outcome)
		switch {
		case r.Err != nil:
			line += ": " + r.Err.Error()
		case r.Outcome == converge.Pending:
			line += ": " + r.Note
		case r.Outcome == converge.Changed || r.Outcome == converge.Planned:
			line += ": " + r.Plan.Reason
		}
		fmt.Fprintln(w, line)
		if !dry || r.Plan.Done() {
			continue
		}
		for _, c := range r.Plan.Changes {
			fmt.Fprintf(w, "    would %s\n", c)
			if c.Diff != "" {
				fmt.Fprint(w, indent(c.Diff))
			}
		}
	}
}

func indent(s string) string {
	return "      " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n      ") + "\n"
}
