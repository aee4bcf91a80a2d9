package images

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/userdb"
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
	// Users resolves User through the node's NSS, so a directory user
	// works (nil: uncached lookups).
	Users *userdb.DB
}

// identity is the import user's uid, gid and groups, as a login would get
// them, plus credentials.group's gid (the import must reach its work
// directory under images.dir, which that group closes).
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
	if e.Group >= 0 && !slices.Contains(groups, uint32(e.Group)) {
		groups = append(groups, uint32(e.Group))
	}
	return &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: groups}, nil
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

// Import imports ref (the front's URI) into out (a path in a workspace),
// calling tick with enroot's process group every sampleEvery while it runs;
// an error from tick stops the import.
func (e *Enroot) Import(ctx context.Context, cred *syscall.Credential, work, ref, out string, tick func(pgid int) error) error {
	cmd := e.command(ctx, cred, work, "import", "--output", out, ref)
	output := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = output, output
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("enroot import %s: %w", ref, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // anything it left behind
			if err != nil {
				return fmt.Errorf("enroot import %s: %v: %s", ref, err, tail(output.String()))
			}
			return nil
		case <-t.C:
			if err := tick(cmd.Process.Pid); err != nil {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-done
				return err
			}
		}
	}
}

// tailBuffer keeps the last 8 KiB written: enroot's progress bars can run
// long, and only the end says what failed.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 8<<10 {
		t.b = append(t.b[:0:0], t.b[len(t.b)-8<<10:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
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
