package images

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/enroot-agent/enroot-agent/internal/userdb"
)

// Enroot runs enroot for the daemon as the unprivileged import user, with
// every path enroot writes pinned (in the environment, which wins over
// enroot.conf) into a private directory of that import, and the agent's own
// registry credentials. It never runs enroot as root, and never reads a path
// a job user can write.
type Enroot struct {
	User       string // images.import_user
	ConfigPath string // ENROOT_CONFIG_PATH: the agent's shared credentials
	Path       string // PATH for enroot and its tools
	// Users resolves User through the node's NSS, so a directory user
	// works (nil: uncached lookups).
	Users *userdb.DB
}

// identity is the import user's uid, gid and groups, as a login would get
// them (a credentials.group must reach it).
func (e *Enroot) identity() (*syscall.Credential, error) {
	ctx := context.Background() // the lookups have their own deadline
	u, err := e.Users.User(ctx, e.User)
	if err != nil {
		return nil, fmt.Errorf("images.import_user %q: %w", e.User, err)
	}
	if u.UID == 0 {
		return nil, fmt.Errorf("images.import_user %q is root: imports never run as root", e.User)
	}
	groups, err := e.Users.Groups(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("images.import_user %q: %w", e.User, err)
	}
	return &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: groups}, nil
}

// command is `enroot args...` as the import user in work.
func (e *Enroot) command(ctx context.Context, cred *syscall.Credential, work string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "enroot", args...)
	conf := e.ConfigPath
	if conf == "" {
		conf = filepath.Join(work, "config")
	}
	cmd.Env = []string{
		"PATH=" + e.Path, "HOME=" + work, "LANG=C.UTF-8",
		"ENROOT_CACHE_PATH=" + filepath.Join(work, "cache"),
		"ENROOT_DATA_PATH=" + filepath.Join(work, "data"),
		"ENROOT_TEMP_PATH=" + filepath.Join(work, "tmp"),
		"ENROOT_RUNTIME_PATH=" + filepath.Join(work, "run"),
		"ENROOT_CONFIG_PATH=" + conf,
	}
	cmd.Dir = work
	// Its own process group, killed whole on cancel; gone if the agent dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}

// run runs the command and returns enroot's output, trimmed, in errors.
func run(cmd *exec.Cmd) (string, error) {
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // anything it left behind
	}
	if err != nil {
		return "", fmt.Errorf("%s: %v: %s", strings.Join(cmd.Args, " "), err, tail(errOut.String()+out.String()))
	}
	return out.String(), nil
}

// Import imports pinned into out (a path in a workspace).
func (e *Enroot) Import(ctx context.Context, cred *syscall.Credential, work, pinned, out string) error {
	_, err := run(e.command(ctx, cred, work, "import", "--output", out, pinned))
	return err
}

// Digest resolves uri with the agent's credentials (prepull).
func (e *Enroot) Digest(ctx context.Context, cred *syscall.Credential, work, uri string) (Digest, error) {
	out, err := run(e.command(ctx, cred, work, "digest", uri))
	if err != nil {
		return "", err
	}
	return ParseDigest(lastLine(out))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}

// isSquashfs checks the magic, so an import that "succeeded" without
// writing an image is not published.
func isSquashfs(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 4)
	_, err = f.Read(b)
	return err == nil && string(b) == "hsqs"
}
