package accel

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/userdb"
	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// EnrootBinary is where Enroot's packages put enroot.
const EnrootBinary = "/usr/bin/enroot"

// probeScript runs in the probe container (dash or bash, no other
// program): it lists the devices it sees, the NVIDIA driver and libraries
// the hook brought, and nvidia-smi's list of GPUs when the hook mounted it.
const probeScript = `for f in /dev/infiniband/uverbs* /dev/nvidia[0-9]* /dev/nvidiactl /dev/nvidia-uvm; do
  [ -c "$f" ] && echo "dev $f"
done
if [ -r /proc/driver/nvidia/version ]; then
  while IFS= read -r l; do echo "driver $l"; done < /proc/driver/nvidia/version
fi
for f in /usr/lib64/libnvidia-ml.so.* /usr/lib/*-linux-gnu/libnvidia-ml.so.* /usr/lib/libnvidia-ml.so.* \
         /usr/lib64/libcuda.so.* /usr/lib/*-linux-gnu/libcuda.so.* /usr/lib/libcuda.so.*; do
  [ -e "$f" ] && echo "lib $f"
done
if [ -x /usr/bin/nvidia-smi ]; then
  /usr/bin/nvidia-smi -L > /tmp/.smi 2>&1
  echo "smi-exit $?"
  while IFS= read -r l; do echo "smi $l"; done < /tmp/.smi
fi
echo end
`

// ProbeRequest says how to start the probe container.
type ProbeRequest struct {
	Env []string // KEY=VALUE for the container (enroot start -e), as an image's would be
	SMI string   // host path of nvidia-smi: copy in what it needs to run inside; "" for none
}

// Starter starts the probe container and returns what probeScript printed.
type Starter func(ctx context.Context, req ProbeRequest) (string, error)

// Prober starts the probe container with the node's real enroot, its
// enroot.conf and hooks, as an unprivileged user, the way Pyxis starts a
// job's container. Only the per-user directories are its own (the
// environment beats enroot.conf), in a scratch directory removed after.
type Prober struct {
	Root config.Root
	User string // verify.container_user
}

// Start builds the root filesystem, runs enroot start, and cleans up.
func (p *Prober) Start(ctx context.Context, req ProbeRequest) (string, error) {
	uid, gid, err := lookupUser(ctx, p.User)
	if err != nil {
		return "", err
	}
	scratch, err := os.MkdirTemp("", "enroot-agent-probe-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(scratch)
	if err := p.rootfs(filepath.Join(scratch, "data", "probe"), req.SMI); err != nil {
		return "", fmt.Errorf("build the probe container: %w", err)
	}
	if err := chownAll(scratch, uid, gid); err != nil {
		return "", err
	}
	args := []string{"start"}
	for _, kv := range req.Env {
		args = append(args, "-e", kv)
	}
	args = append(args, "probe", "/bin/sh", "-c", probeScript)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.Root.Path(EnrootBinary), args...)
	cmd.Dir = scratch
	cmd.Env = []string{"PATH=" + probePath(), "HOME=" + scratch, "USER=" + p.User, "LOGNAME=" + p.User,
		"TMPDIR=" + filepath.Join(scratch, "tmp"),
		"ENROOT_RUNTIME_PATH=" + filepath.Join(scratch, "run"), "ENROOT_DATA_PATH=" + filepath.Join(scratch, "data"),
		"ENROOT_CACHE_PATH=" + filepath.Join(scratch, "cache"), "ENROOT_TEMP_PATH=" + filepath.Join(scratch, "tmp"),
		"ENROOT_CONFIG_PATH=" + filepath.Join(scratch, "config")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	// enroot forks helpers (fuse, nsenter): a timeout kills them all.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	// The container runs as an ordinary user, who could flood its output.
	out := &capped{max: 1 << 20}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("enroot start as %s: %w: %s", p.User, err, lastLines(out.String(), 5))
	}
	return out.String(), nil
}

// rootfs makes the container's root filesystem in dir: the host's shell
// and, with smi, the libraries the host's nvidia-smi needs (not nvidia-smi
// itself nor the driver's libraries, which the hook mounts), plus the
// directories enroot mounts onto.
func (p *Prober) rootfs(dir string, smi string) error {
	files, err := Closure(p.Root, "/bin/sh")
	if err != nil {
		return err
	}
	if smi != "" {
		deps, err := Closure(p.Root, smi)
		if err != nil {
			return err
		}
		files = append(files, deps[1:]...)
	}
	if err := copyInto(p.Root, dir, files); err != nil {
		return err
	}
	for _, d := range []string{"etc", "dev", "proc", "sys", "tmp", "run", "usr/bin", "var/tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// probePath is the agent's own PATH with the standard directories after
// it, for the programs enroot and its hooks run.
func probePath() string {
	std := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	if p := os.Getenv("PATH"); p != "" {
		return p + ":" + std
	}
	return std
}

// lookupUser resolves the probe's user through the node's NSS, as every
// user lookup of the agent does (a directory user counts).
func lookupUser(ctx context.Context, name string) (uint32, uint32, error) {
	u, err := (*userdb.DB)(nil).User(ctx, name)
	if err != nil {
		return 0, 0, fmt.Errorf("verify.container_user %q: %w", name, err)
	}
	if u.UID == 0 {
		return 0, 0, fmt.Errorf("verify.container_user %q is uid 0: the probe runs as an unprivileged user", name)
	}
	return u.UID, u.GID, nil
}

func chownAll(dir string, uid, gid uint32) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(uid), int(gid))
	})
}

// lastLines keeps the end of enroot's output, where its error is.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// capped keeps the first max bytes written to it and drops the rest.
type capped struct {
	bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); room > 0 {
		c.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
