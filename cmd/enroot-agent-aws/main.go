// Command enroot-agent-aws is enroot-agent's AWS helper, installed at
// /usr/libexec/enroot-agent/enroot-agent-aws beside the agent. The agent
// runs it for each AWS call (an ECR or ECR Public token, a secret, the
// instance identity document, an S3 download): it reads one request on
// stdin, makes the call through the AWS SDK and writes the answer, and
// for S3 the object's bytes, on stdout (package awswire), then exits.
//
// Why a process of its own: the SDK's package initialisers build about
// 3 MB of tables and keep about 4 MB more of the binary resident, which
// the daemon, idle between refreshes six hours apart on every node, paid
// all the time (issue 25). The agent links no SDK; a call pays a process
// start instead, a few tens of milliseconds.
//
// It is a child only: on a terminal, or with an argument other than
// `version`, it refuses with a message and exit status 2.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/enroot-agent/enroot-agent/internal/awssdk"
	"golang.org/x/sys/unix"
)

// version is set by the Makefile from git describe, as the agent's.
var version = "dev"

const usage = "enroot-agent-aws is enroot-agent's AWS helper: the agent runs it, one call per process, " +
	"with a request on stdin and the answer on stdout; it takes no arguments but `version`"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin, stdout *os.File, stderr io.Writer) int {
	switch {
	case len(args) == 1 && args[0] == "version":
		fmt.Fprintf(stdout, "enroot-agent-aws %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	case len(args) > 0:
		fmt.Fprintf(stderr, "enroot-agent-aws: unknown argument %q: %s\n", args[0], usage)
		return 2
	case isTerminal(stdin) || isTerminal(stdout):
		fmt.Fprintf(stderr, "enroot-agent-aws: stdin or stdout is a terminal: %s\n", usage)
		return 2
	}
	// The agent kills the helper when its caller gives up, and the
	// request carries the caller's deadline: no signal handling here.
	if err := awssdk.Serve(context.Background(), stdin, stdout); err != nil {
		// The agent has the answer, or a transport error of its own;
		// this only sets the exit status.
		return 1
	}
	return 0
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
