package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The node image: Debian 12 minbase with what a ParallelCluster node has
// before OnNodeConfigured runs. Every node boots a copy of it.
const (
	suite = "bookworm"
	// rootfsRecipe changes whenever what is done to the rootfs after
	// debootstrap changes, so an old cache is not reused.
	rootfsRecipe = "3"
)

// rootfsPackages are installed by debootstrap beyond minbase:
//   - a booting systemd with its bus, and munge;
//   - the runtime libraries of the upstream /opt/slurm build (its README);
//   - what Enroot 4.1.2's packages depend on and the agent's prerequisites
//     (the AMI has them, as ParallelCluster's do: the cluster runs no apt
//     against a remote mirror, and the real-chain test already proves the
//     agent installs missing ones);
//   - cc and make for the Pyxis build (ParallelCluster AMIs carry a
//     toolchain).
func rootfsPackages() []string {
	return []string{
		"systemd", "systemd-sysv", "dbus", "iproute2", "procps", "munge", "libmunge2",
		"libjson-c5", "libhttp-parser2.9", "libyaml-0-2", "libjwt0", "liblz4-1", "libhwloc15", "libnuma1",
		"libreadline8", "libdbus-1-3", "libpam0g", "libcurl4",
		"curl", "gawk", "jq", "parallel", "squashfs-tools", "zstd", "bsdmainutils", "pigz", "libcap2-bin",
		"gcc", "make", "libc6-dev",
	}
}

// CacheEnv names another directory for the rootfs cache.
const CacheEnv = "ENROOT_AGENT_CLUSTER_CACHE"

// DefaultCacheDir keeps the debootstrap rootfs between runs, outside any
// checkout.
const DefaultCacheDir = "/var/cache/enroot-agent-test"

// rootfsKey names a cached rootfs by everything that went into it.
// The mirror is not part of it: every mirror serves the same suite.
func rootfsKey() string {
	h := sha256.Sum256([]byte(suite + "\n" + rootfsRecipe + "\n" + strings.Join(rootfsPackages(), ",")))
	return "rootfs-" + suite + "-" + hex.EncodeToString(h[:6])
}

// Rootfs returns the cached node rootfs, building it with debootstrap when
// it is missing (about 2 minutes; other callers wait on a lock). built
// reports whether this call built it.
func Rootfs(cacheDir string, log func(string, ...any)) (dir string, built bool, err error) {
	if cacheDir == "" {
		cacheDir = DefaultCacheDir
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", false, err
	}
	lock, err := os.OpenFile(filepath.Join(cacheDir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", false, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", false, fmt.Errorf("lock %s: %w", cacheDir, err)
	}
	dir = filepath.Join(cacheDir, rootfsKey())
	if _, err := os.Stat(filepath.Join(dir, "etc", "os-release")); err == nil {
		return dir, false, nil
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return "", false, errors.New("debootstrap not found: install the Debian package debootstrap (scripts/test-deps.sh)")
	}
	mirror, err := DebianMirror(suite)
	if err != nil {
		return "", false, err
	}
	tmp, err := os.MkdirTemp(cacheDir, ".build-")
	if err != nil {
		return "", false, err
	}
	defer os.RemoveAll(tmp)
	// The root of a system: its users (munge's postinst runs as munge) must
	// traverse it.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", false, err
	}
	start := time.Now()
	log("building the node rootfs with debootstrap (%d packages, once per package list) in %s", len(rootfsPackages()), dir)
	if err := debootstrap(tmp, mirror); err != nil {
		return "", false, err
	}
	if err := finishRootfs(tmp); err != nil {
		return "", false, fmt.Errorf("prepare the rootfs %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", false, err
	}
	log("node rootfs built in %s", time.Since(start).Round(time.Second))
	return dir, true, nil
}

func debootstrap(dir, mirror string) error {
	cmd := exec.Command("debootstrap", "--variant=minbase", "--include="+strings.Join(rootfsPackages(), ","),
		suite, dir, mirror)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		tail := string(out)
		if len(tail) > 4000 {
			tail = tail[len(tail)-4000:]
		}
		detail, _ := os.ReadFile(filepath.Join(dir, "debootstrap", "debootstrap.log"))
		if len(detail) > 6000 {
			detail = detail[len(detail)-6000:]
		}
		return fmt.Errorf("debootstrap %s: %v\n%s\ndebootstrap.log ends:\n%s", suite, err, tail, detail)
	}
	return nil
}

// finishRootfs makes the debootstrap tree a node image: no downloaded
// .debs, no machine id (each boot makes its own), no munge key (each
// cluster gets one), the slurm user, and no timers that would start apt on
// a running node.
func finishRootfs(dir string) error {
	debs, _ := filepath.Glob(filepath.Join(dir, "var/cache/apt/archives/*.deb"))
	for _, d := range debs {
		if err := os.Remove(d); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/machine-id"), nil, 0o444); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(dir, "var/lib/dbus/machine-id"))
	_ = os.Remove(filepath.Join(dir, "etc/munge/munge.key"))
	for _, timer := range []string{"apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer"} {
		link := filepath.Join(dir, "etc/systemd/system", timer)
		if err := os.Symlink("/dev/null", link); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	out, err := exec.Command("useradd", "--root", dir, "--system", "--user-group", "--no-create-home",
		"--home-dir", "/var/lib/slurm", "--shell", "/usr/sbin/nologin", "slurm").CombinedOutput()
	if err != nil {
		return fmt.Errorf("useradd slurm: %v: %s", err, out)
	}
	return nil
}
