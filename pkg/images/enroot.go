package images

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Enroot runs enroot for the daemon as the unprivileged import user, with
// every path enroot writes pinned (in the environment, which wins over
// enroot.conf) into a private directory of that import. enroot imports from
// the import's front (front.go), never from the registry itself, so it needs
// no registry credentials: its credentials file holds the front's one-time
// password only. It never runs enroot as root, and never reads a path a job
// user can write.
type Enroot struct {
	User string // images.import_user
	Path string // PATH for enroot and its tools
	// Group is credentials.group's gid, added to the import's groups so it
	// can reach its work directory under a 0710 root:<group> images.dir;
	// -1 when unset.
	Group int
}

// identity is the import user's uid, gid and groups (a credentials.group
// must reach it).
func (e *Enroot) identity() (*syscall.Credential, error) {
	u, err := user.Lookup(e.User)
	if err != nil {
		if u, err = user.LookupId(e.User); err != nil {
			return nil, fmt.Errorf("images.import_user %q: %w", e.User, err)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if uid == 0 {
		return nil, fmt.Errorf("images.import_user %q is root: imports never run as root", e.User)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if e.Group >= 0 {
		cred.Groups = append(cred.Groups, uint32(e.Group))
	}
	gids, _ := u.GroupIds()
	for _, g := range gids {
		if n, err := strconv.Atoi(g); err == nil {
			cred.Groups = append(cred.Groups, uint32(n))
		}
	}
	return cred, nil
}

// command is `enroot args...` as the import user in work.
func (e *Enroot) command(ctx context.Context, cred *syscall.Credential, work string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "enroot", args...)
	cmd.Env = []string{
		"PATH=" + e.Path, "HOME=" + work, "LANG=C.UTF-8",
		"ENROOT_CACHE_PATH=" + filepath.Join(work, "cache"),
		"ENROOT_DATA_PATH=" + filepath.Join(work, "data"),
		"ENROOT_TEMP_PATH=" + filepath.Join(work, "tmp"),
		"ENROOT_RUNTIME_PATH=" + filepath.Join(work, "run"),
		"ENROOT_CONFIG_PATH=" + filepath.Join(work, "config"),
		// The front is plain HTTP on loopback, never through a proxy.
		"ENROOT_ALLOW_HTTP=y", "no_proxy=127.0.0.1,localhost", "NO_PROXY=127.0.0.1,localhost",
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

// Import imports ref (the front's URI) into out (a path in a workspace).
func (e *Enroot) Import(ctx context.Context, cred *syscall.Credential, work, ref, out string) error {
	_, err := run(e.command(ctx, cred, work, "import", "--output", out, ref))
	return err
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
