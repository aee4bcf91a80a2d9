package install

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// Cmd is one command the installer runs. Plans list them, so a dry run shows
// exactly what apply would execute.
type Cmd struct {
	Args []string
	Env  []string // added to the agent's environment
}

func (c Cmd) String() string {
	return strings.TrimSpace(strings.Join(c.Env, " ") + " " + strings.Join(c.Args, " "))
}

// Runner executes a command and returns its combined output. The real one is
// execRunner; the seam exists so that a package manager can be aimed at any
// PATH, not to fake one.
type Runner func(ctx context.Context, c Cmd) ([]byte, error)

// cmdTimeout bounds any one package-manager command: a dnf or apt-get that
// cannot reach its repositories must fail, never hang the agent.
const cmdTimeout = 15 * time.Minute

func execRunner(ctx context.Context, c Cmd) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Args[0], c.Args[1:]...)
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("no result after %s: %w", cmdTimeout, err)
	}
	return out.Bytes(), err
}

// PackageManager is the narrow view of rpm/dnf/yum or dpkg/apt the installer
// needs. Queries read the package database; the *Cmd methods only build
// commands, which Run executes, so plans can show them.
type PackageManager interface {
	// Version is the installed upstream version of pkg ("" when absent).
	Version(ctx context.Context, pkg string) (string, error)
	// Provided reports whether an installed package provides name.
	Provided(ctx context.Context, name string) (bool, error)
	// Available reports whether the configured repositories offer name.
	Available(ctx context.Context, name string) (bool, error)
	// InstallFilesCmd installs, upgrades or downgrades to local package files.
	InstallFilesCmd(files []string) Cmd
	// InstallCmds installs named packages from the repositories.
	InstallCmds(names []string) []Cmd
	// MissingDeps lists what the package files declare that neither the
	// node nor the files themselves satisfy (deps.go).
	MissingDeps(ctx context.Context, files []string) ([]MissingDep, error)
	Run(ctx context.Context, c Cmd) error
}

// NewPackageManager returns the real manager for p, honouring --root.
func NewPackageManager(p Platform, root config.Root, run Runner) PackageManager {
	if run == nil {
		run = execRunner
	}
	r := string(root)
	if r == "/" {
		r = ""
	}
	if p.Family == Deb {
		return &dpkg{root: r, run: run}
	}
	return &rpm{root: r, frontend: p.Frontend, run: run}
}

// runCmd runs c and turns a failure into an error quoting the output's tail.
func runCmd(ctx context.Context, run Runner, c Cmd) ([]byte, error) {
	out, err := run(ctx, c)
	if err != nil {
		return out, fmt.Errorf("%s: %w\n%s", c, err, tail(out, 15))
	}
	return out, nil
}

func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// exitCode is the command's exit status, or -1 when it did not run.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
