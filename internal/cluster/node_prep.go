package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// prepareNode makes the node's root from the cached rootfs and writes what
// makes it this node of this cluster: its name, the cluster's munge key, the
// job user, Slurm's PATH and the Slurm daemon's unit.
func (c *Cluster) prepareNode(n *Node, base string, mungeKey []byte) error {
	if err := n.mountRoot(base); err != nil {
		return err
	}
	// Every node shares the host's network, so every node's name is
	// 127.0.0.1, as the cluster's DNS names each node on AWS: a job's
	// ranks reach the first node of the step by its name (Enroot's PyTorch
	// hook hands it to them as MASTER_ADDR).
	var names []string
	for _, m := range c.Nodes() {
		if m != n {
			names = append(names, m.Name)
		}
	}
	hosts := "127.0.0.1 localhost " + n.Name + "\n::1 localhost ip6-localhost ip6-loopback\n" +
		"# the other nodes of the cluster (internal/cluster)\n127.0.0.1 " + strings.Join(names, " ") + "\n"
	files := map[string]string{
		"etc/hostname": n.Name + "\n",
		"etc/hosts":    hosts,
		// ParallelCluster puts Slurm on every login shell's PATH.
		"etc/profile.d/slurm.sh": "PATH=/opt/slurm/bin:/opt/slurm/sbin:$PATH\n",
	}
	for p, data := range files {
		if err := os.WriteFile(filepath.Join(n.Root, p), []byte(data), 0o644); err != nil {
			return err
		}
	}
	if err := n.writeOwned("etc/munge/munge.key", mungeKey, 0o400, "munge"); err != nil {
		return err
	}
	out, err := exec.Command("useradd", "--root", n.Root, "--uid", strconv.Itoa(UserUID), "--user-group",
		"--no-create-home", "--home-dir", "/home/"+User, "--shell", "/bin/bash", User).CombinedOutput()
	if err != nil {
		return fmt.Errorf("useradd %s on %s: %v: %s", User, n.Name, err, out)
	}
	if err := c.writeNodeEnv(n); err != nil {
		return err
	}
	return c.installSlurmUnit(n)
}

// installSlurmUnit installs and enables Slurm's own unit for the node's
// daemon (from /opt/slurm/share/systemd, as built): slurmctld on the head
// node, slurmd named after the node on compute nodes.
func (c *Cluster) installSlurmUnit(n *Node) error {
	unit := "slurmctld.service"
	if n.Compute {
		unit = "slurmd.service"
		opts := "SLURMD_OPTIONS=\"-N " + n.Name + "\"\n"
		if err := os.WriteFile(filepath.Join(n.Root, "etc/default/slurmd"), []byte(opts), 0o644); err != nil {
			return err
		}
	} else if err := n.mkdirOwned("var/spool/slurmctld", 0o700, "slurm"); err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(c.SlurmDir, "share/systemd", unit))
	if err != nil {
		return fmt.Errorf("Slurm's unit: %w", err)
	}
	if err := os.WriteFile(filepath.Join(n.Root, "etc/systemd/system", unit), data, 0o644); err != nil {
		return err
	}
	return os.Symlink("/etc/systemd/system/"+unit, filepath.Join(n.Root, "etc/systemd/system/multi-user.target.wants", unit))
}

// mountRoot makes the node's root an overlay of the cached rootfs (read
// only, shared by every node) and a directory of the node's own that takes
// every write: no copy of the rootfs per node, and the cache never changes.
func (n *Node) mountRoot(base string) error {
	dir := filepath.Dir(n.Root)
	upper, work := filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	for _, d := range []string{n.Root, upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	opts := "lowerdir=" + base + ",upperdir=" + upper + ",workdir=" + work
	if err := syscall.Mount("overlay", n.Root, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount the root of %s (overlay %s): %w", n.Name, opts, err)
	}
	n.mounted = true
	return nil
}

// unmountRoot undoes mountRoot once the node is down.
func (n *Node) unmountRoot() error {
	if !n.mounted {
		return nil
	}
	if err := unmount(n.Root); err != nil {
		return err
	}
	n.mounted = false
	return nil
}

// unmount detaches a mount point, retrying while it is busy (a process of
// the node that is still exiting).
func unmount(p string) error {
	var err error
	for range 100 {
		err = syscall.Unmount(p, 0)
		if err == nil || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOENT) { // EINVAL: not a mount point
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("umount %s: %w", p, err)
}

// writeOwned writes a file of the node owned by one of its users.
func (n *Node) writeOwned(rel string, data []byte, mode os.FileMode, user string) error {
	uid, gid, err := n.lookup(user)
	if err != nil {
		return err
	}
	p := filepath.Join(n.Root, rel)
	if err := os.WriteFile(p, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(p, mode); err != nil {
		return err
	}
	return os.Chown(p, uid, gid)
}

func (n *Node) mkdirOwned(rel string, mode os.FileMode, user string) error {
	uid, gid, err := n.lookup(user)
	if err != nil {
		return err
	}
	p := filepath.Join(n.Root, rel)
	if err := os.MkdirAll(p, mode); err != nil {
		return err
	}
	return os.Chown(p, uid, gid)
}

// lookup reads a user's uid and gid from the node's /etc/passwd.
func (n *Node) lookup(user string) (uid, gid int, err error) {
	f, err := os.Open(filepath.Join(n.Root, "etc/passwd"))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 4 && fields[0] == user {
			uid, err1 := strconv.Atoi(fields[2])
			gid, err2 := strconv.Atoi(fields[3])
			if err1 == nil && err2 == nil {
				return uid, gid, nil
			}
		}
	}
	return 0, 0, fmt.Errorf("node %s has no user %s", n.Name, user)
}
