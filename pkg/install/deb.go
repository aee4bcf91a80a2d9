package install

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

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
