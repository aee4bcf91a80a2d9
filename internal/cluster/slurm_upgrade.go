package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
)

// Which parts of /opt/slurm the controller runs from, and which the
// clients and builds read: the upgrade swaps them in this order.
func slurmServerParts() []string { return []string{"sbin", "lib", "share"} }
func slurmClientParts() []string { return []string{"bin", "include"} }

// UpgradeSlurm replaces the shared /opt/slurm with another upstream build,
// as an admin does it in Slurm's documented order (the controller before
// the node daemons and the clients): the new build unpacked beside the old
// one; slurmctld stopped, the controller's binaries and libraries swapped
// in, slurmctld started; then the commands and headers swapped in; then
// slurmd restarted on every compute node. /opt/slurm/etc (the site's
// configuration, the plugstack) is kept. Nothing is done to the agents: a
// node's agent sees the new Slurm when srun and the headers change.
//
// notStarted names the compute nodes whose slurmd failed to start again:
// what the admin saw, not an error of the upgrade (slurmd loads the
// plugstack as it starts, and refuses a Pyxis built for the old Slurm).
func (c *Cluster) UpgradeSlurm(ctx context.Context, version string) (notStarted []string, err error) {
	up, err := pkgrepo.LoadUpstream(SlurmTarball(version))
	if err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp(c.Dir, "slurm-"+version+"-")
	if err != nil {
		return nil, err
	}
	tarball := filepath.Join(up.Dir, SlurmTarball(version))
	if out, err := exec.CommandContext(ctx, "tar", "--zstd", "-xf", tarball, "-C", stage).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("unpack %s: %v\n%s", tarball, err, out)
	}
	built := filepath.Join(stage, "opt", "slurm")
	old := filepath.Join(c.Dir, "slurm-"+c.Slurm+"-replaced")
	if err := os.Mkdir(old, 0o755); err != nil {
		return nil, err
	}
	if _, err := c.Head.Output(ctx, "systemctl", "stop", "slurmctld"); err != nil {
		return nil, err
	}
	if err := swapParts(c.SlurmDir, built, old, slurmServerParts()); err != nil {
		return nil, err
	}
	if _, err := c.Head.Output(ctx, "systemctl", "start", "slurmctld"); err != nil {
		log, _ := c.Head.Output(ctx, "journalctl", "--no-pager", "-n", "20", "-u", "slurmctld")
		return nil, fmt.Errorf("%w\n%s", err, log)
	}
	if err := swapParts(c.SlurmDir, built, old, slurmClientParts()); err != nil {
		return nil, err
	}
	c.Slurm = version
	var wg sync.WaitGroup
	failed := make([]bool, len(c.Computes))
	for i, n := range c.Computes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := n.Output(ctx, "systemctl", "restart", "slurmd")
			failed[i] = err != nil
		}()
	}
	wg.Wait()
	for i, f := range failed {
		if f {
			notStarted = append(notStarted, c.Computes[i].Name)
		}
	}
	return notStarted, os.RemoveAll(stage)
}

// swapParts moves each part of dir aside into old and the new build's in
// its place, by rename: processes running from the old files keep them.
func swapParts(dir, built, old string, parts []string) error {
	for _, p := range parts {
		if err := os.Rename(filepath.Join(dir, p), filepath.Join(old, p)); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(built, p), filepath.Join(dir, p)); err != nil {
			return err
		}
	}
	return nil
}
