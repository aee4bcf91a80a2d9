package install

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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

// dpkg drives dpkg for queries and local files, and apt-get for repositories.
type dpkg struct {
	root      string // "" for the real root
	run       Runner
	db        dpkgDB
	lockRetry time.Duration // 0 means lockRetryEvery
}

// aptEnv keeps apt and dpkg from ever asking a question: a prompt on a node
// with no terminal is a hang.
var aptEnv = []string{"DEBIAN_FRONTEND=noninteractive"}

// confOld keeps the admin's (our) /etc/enroot/enroot.conf when a package
// ships a new default, instead of prompting.
var confOld = []string{"--force-confdef", "--force-confold"}

func (m *dpkg) rooted(tool string, args ...string) []string {
	if m.root != "" {
		return append([]string{tool, "--root=" + m.root}, args...)
	}
	return append([]string{tool}, args...)
}

func (m *dpkg) Version(ctx context.Context, pkg string) (string, error) {
	if v, ok := m.db.version(m.root, pkg); ok {
		return v, nil
	}
	out, err := m.run(ctx, Cmd{Args: m.rooted("dpkg-query", "-W", "-f=${db:Status-Status} ${Version}\n", pkg)})
	text := strings.TrimSpace(string(out))
	switch {
	case err == nil:
		status, version, _ := strings.Cut(strings.Split(text, "\n")[0], " ")
		if status != "installed" {
			return "", nil // config-files, half-installed: as good as absent
		}
		if i := strings.LastIndex(version, "-"); i > 0 {
			version = version[:i] // 4.1.2-1 -> 4.1.2, as rpm's %{VERSION}
		}
		return version, nil
	case exitCode(err) == 1:
		return "", nil // "no packages found matching"
	}
	return "", fmt.Errorf("dpkg-query %s: %w: %s", pkg, err, text)
}

func (m *dpkg) Provided(ctx context.Context, name string) (bool, error) {
	v, err := m.Version(ctx, name)
	return v != "", err
}

func (m *dpkg) Available(ctx context.Context, name string) (bool, error) {
	out, err := m.run(ctx, Cmd{Args: append(m.aptArgs("apt-cache"), "show", name)})
	return err == nil && len(strings.TrimSpace(string(out))) > 0, nil
}

// InstallFilesCmd uses dpkg -i, which installs, upgrades and downgrades.
func (m *dpkg) InstallFilesCmd(files []string) Cmd {
	args := append(m.rooted("dpkg", confOld...), "-i")
	return Cmd{Args: append(args, files...), Env: aptEnv}
}

// InstallCmds runs apt-get update first when the node has no package lists
// (fresh images often ship without them), then the install.
func (m *dpkg) InstallCmds(names []string) []Cmd {
	var cmds []Cmd
	apt := m.aptArgs("apt-get")
	if !m.haveLists() {
		cmds = append(cmds, Cmd{Args: append(append([]string{}, apt...), "-q", "update"), Env: aptEnv})
	}
	args := append(apt, "-y", "-q", "--no-install-recommends", "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold", "install")
	return append(cmds, Cmd{Args: append(args, names...), Env: aptEnv})
}

// aptArgs adds timeouts (an air-gapped node fails fast) and, under --root,
// points apt's state and dpkg into the root.
func (m *dpkg) aptArgs(tool string) []string {
	args := []string{tool, "-o", "Acquire::http::Timeout=30", "-o", "Acquire::Retries=2", "-o", "DPkg::Lock::Timeout=300"}
	if m.root != "" {
		args = append(args, "-o", "Dir="+m.root, "-o", "DPkg::Chroot-Directory="+m.root)
	}
	return args
}

func (m *dpkg) haveLists() bool {
	lists, _ := filepath.Glob(filepath.Join(m.root, "/var/lib/apt/lists/*_Packages*"))
	return len(lists) > 0
}

// Run waits out a dpkg lock held by someone else: at boot, Ubuntu's
// unattended-upgrades often holds it for minutes, and failing then would
// only postpone the install to the next run.
func (m *dpkg) Run(ctx context.Context, c Cmd) error {
	deadline := time.Now().Add(lockWait)
	for {
		out, err := runCmd(ctx, m.run, c)
		if err == nil || !dpkgLocked(out) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (while waiting for the dpkg lock)", ctx.Err())
		case <-time.After(cmp.Or(m.lockRetry, lockRetryEvery)):
		}
	}
}

// How long and how often Run retries a locked dpkg, unless the dpkg value
// says otherwise (tests retry faster).
const (
	lockWait       = 5 * time.Minute
	lockRetryEvery = 10 * time.Second
)

func dpkgLocked(out []byte) bool {
	s := string(out)
	return strings.Contains(s, "locked by another process") || strings.Contains(s, "Could not get lock")
}

// dpkgDB answers "which version of a package is installed" from dpkg's
// status file without starting a process: every converge asks about each
// prerequisite and Enroot package, and a dpkg-query per package was most of
// a warm apply's time (BENCHMARKS.md, row 1). The parse is kept until the
// file's inode, size or mtime changes (dpkg writes a new file and renames it
// over the old one); while dpkg's journal holds entries, version cannot
// answer and the caller asks dpkg-query, which reads the journal too.
type dpkgDB struct {
	mu       sync.Mutex
	id       [3]int64 // inode, size, mtime of the parsed file
	versions map[string]string
}

// version returns pkg's installed version ("" when not installed) and
// whether the status file could answer. It cannot while dpkg's journal
// (updates/) holds entries not yet merged into the file: dpkg-query reads
// those too.
func (d *dpkgDB) version(root, pkg string) (string, bool) {
	admin := filepath.Join(root, "/var/lib/dpkg")
	if pending, err := os.ReadDir(filepath.Join(admin, "updates")); err != nil || len(pending) > 0 {
		return "", false
	}
	path := filepath.Join(admin, "status")
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return "", false
	}
	id := [3]int64{int64(st.Ino), st.Size, st.Mtim.Nano()}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.versions == nil || d.id != id {
		data, err := os.ReadFile(path)
		if err != nil {
			return "", false
		}
		d.versions, d.id = parseDpkgStatus(string(data)), id
	}
	return d.versions[pkg], true
}

// parseDpkgStatus maps each installed package ("Status: install ok
// installed"; config-files and half-installed count as absent) to its
// upstream version, the Debian revision cut off (4.1.2-1 -> 4.1.2) as
// rpm's %{VERSION}.
func parseDpkgStatus(data string) map[string]string {
	out := map[string]string{}
	for _, stanza := range strings.Split(strings.ReplaceAll(data, "\r\n", "\n"), "\n\n") {
		var name, status, version string
		for _, line := range strings.Split(stanza, "\n") {
			key, val, ok := strings.Cut(line, ":")
			if !ok || strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
				continue // a continuation line of a multi-line field
			}
			switch val = strings.TrimSpace(val); key {
			case "Package":
				name = val
			case "Status":
				status = ""
				if f := strings.Fields(val); len(f) > 0 {
					status = f[len(f)-1]
				}
			case "Version":
				version = val
			}
		}
		if name == "" || status != "installed" || out[name] != "" {
			continue
		}
		if i := strings.LastIndex(version, "-"); i > 0 {
			version = version[:i]
		}
		out[name] = version
	}
	return out
}

// rpm drives rpm for queries and local files, and dnf or yum for repositories.
type rpm struct {
	root     string // "" for the real root
	frontend string // dnf or yum
	run      Runner
}

func (m *rpm) rpmArgs(args ...string) []string {
	if m.root != "" {
		return append([]string{"rpm", "--root", m.root}, args...)
	}
	return append([]string{"rpm"}, args...)
}

func (m *rpm) Version(ctx context.Context, pkg string) (string, error) {
	out, err := m.run(ctx, Cmd{Args: m.rpmArgs("-q", "--qf", "%{VERSION}\\n", pkg)})
	text := strings.TrimSpace(string(out))
	switch {
	case err == nil:
		return strings.Fields(text + " ")[0], nil
	case exitCode(err) == 1 && strings.Contains(text, "is not installed"):
		return "", nil
	}
	return "", fmt.Errorf("rpm -q %s: %w: %s", pkg, err, text)
}

func (m *rpm) Provided(ctx context.Context, name string) (bool, error) {
	out, err := m.run(ctx, Cmd{Args: m.rpmArgs("-q", "--whatprovides", name)})
	switch {
	case err == nil:
		return true, nil
	case exitCode(err) == 1:
		return false, nil
	}
	return false, fmt.Errorf("rpm -q --whatprovides %s: %w: %s", name, err, strings.TrimSpace(string(out)))
}

func (m *rpm) Available(ctx context.Context, name string) (bool, error) {
	args := append(m.frontendArgs(), "-q", "list", "--available", name)
	if m.frontend == "yum" {
		args = append(m.frontendArgs(), "-q", "list", "available", name)
	}
	_, err := m.run(ctx, Cmd{Args: args})
	return err == nil, nil
}

// InstallFilesCmd uses rpm -U with --oldpackage so one command covers a first
// install, an upgrade and a downgrade, in a single transaction for all files.
func (m *rpm) InstallFilesCmd(files []string) Cmd {
	return Cmd{Args: append(m.rpmArgs("-U", "--oldpackage", "--replacepkgs"), files...)}
}

func (m *rpm) InstallCmds(names []string) []Cmd {
	args := append(m.frontendArgs(), "-y", "--setopt=timeout=30", "--setopt=retries=2", "install")
	return []Cmd{{Args: append(args, names...)}}
}

func (m *rpm) frontendArgs() []string {
	if m.root != "" {
		return []string{m.frontend, "--installroot", m.root}
	}
	return []string{m.frontend}
}

func (m *rpm) Run(ctx context.Context, c Cmd) error {
	_, err := runCmd(ctx, m.run, c)
	return err
}
