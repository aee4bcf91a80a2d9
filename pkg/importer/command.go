package importer

import (
	"context"
	"fmt"
	"io"
)

// Usage is the importer's command line, for people.
const Usage = "usage: enroot-agent importer get URI | importer release"

// Command runs one Pyxis importer operation as `enroot-agent get URI`,
// `release` or `importer get|release` run it, and returns the exit code: 0
// done, 1 get failed, 2 bad usage. It prints the squashfs path on stdout
// and nothing else there: Pyxis reads its first line. Both the agent and
// its small front binary run it, so the two cannot drift apart.
func (im *Importer) Command(ctx context.Context, op string, args []string, stdout io.Writer) int {
	switch {
	case op == "get" && len(args) == 1:
		path, err := im.Get(ctx, args[0])
		if err != nil {
			fmt.Fprintf(im.Stderr, "enroot-agent importer: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, path)
		return 0
	case op == "release" && len(args) == 0:
		_ = im.Release(ctx)
		return 0
	}
	fmt.Fprintln(im.Stderr, Usage)
	return 2
}
