package install

import (
	"context"
	"fmt"
	"strings"
)

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
