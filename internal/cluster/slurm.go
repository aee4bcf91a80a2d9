package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/slurm"
)

// The Slurm releases of ../shared/upstream, built into /opt/slurm as
// ParallelCluster builds them (plus --enable-multiple-slurmd, so several
// slurmd share 127.0.0.1 on ports of their own).
const (
	DefaultSlurm = "24.11.7"
	UpgradeSlurm = "25.11.7"
)

// SlurmTarball is the upstream file holding version built into /opt/slurm.
func SlurmTarball(version string) string {
	return "slurm-" + version + "-opt-slurm-debian12-amd64.tar.zst"
}

// slurmConfig is what slurm.conf says about this cluster.
type slurmConfig struct {
	ControllerPort int
	Computes       []*Node
	CPUs           int
}

// render is the cluster's slurm.conf, as ParallelCluster's differs only
// where one machine hosting every node forces it: every node on 127.0.0.1
// with a port of its own, and no cgroup plugins (v1 controllers are
// read-only in a container and v2 has none delegated).
func (s slurmConfig) render() string {
	var b strings.Builder
	fmt.Fprintf(&b, `# written by the enroot-agent cluster test bed (internal/cluster)
ClusterName=enroot-agent-test
SlurmctldHost=head(127.0.0.1)
SlurmctldPort=%d
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
SlurmdTimeout=120
# As ParallelCluster sets it (and enroot-agent verify asks for it).
PropagateResourceLimitsExcept=MEMLOCK
`, s.ControllerPort)
	var names []string
	for _, n := range s.Computes {
		fmt.Fprintf(&b, "NodeName=%s NodeAddr=127.0.0.1 NodeHostname=%s Port=%d CPUs=%d State=UNKNOWN\n",
			n.Name, n.Name, n.SlurmdPort, s.CPUs)
		names = append(names, n.Name)
	}
	fmt.Fprintf(&b, "PartitionName=compute Nodes=%s Default=YES MaxTime=INFINITE State=UP\n", strings.Join(names, ","))
	return b.String()
}

// cgroupConf turns Slurm's cgroup plugin off: nothing here could use it.
const cgroupConf = "CgroupPlugin=disabled\n"

// sitePlugstack is /opt/slurm/etc/plugstack.conf before any agent ran.
const sitePlugstack = "# SPANK plugins of this cluster\n"

// unpackSlurm puts the upstream build of version into dir, the directory
// every node mounts as /opt/slurm, replacing any other build there but
// keeping dir/etc (the site's configuration), as an admin replacing the
// shared /opt/slurm does.
func unpackSlurm(upstream, version, dir string) error {
	tarball := filepath.Join(upstream, SlurmTarball(version))
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".slurm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if out, err := exec.Command("tar", "--zstd", "-xf", tarball, "-C", tmp).CombinedOutput(); err != nil {
		return fmt.Errorf("unpack %s (needs the Debian package zstd): %v\n%s", tarball, err, out)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range old {
		if e.Name() != "etc" {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	built := filepath.Join(tmp, "opt", "slurm")
	entries, err := os.ReadDir(built)
	if err != nil {
		return fmt.Errorf("%s holds no opt/slurm: %w", tarball, err)
	}
	for _, e := range entries {
		if e.Name() == "etc" {
			continue
		}
		if err := os.Rename(filepath.Join(built, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
}

// WaitIdle waits until every node of nodes is idle in Slurm (sinfo on the
// head node).
func (c *Cluster) WaitIdle(ctx context.Context, nodes []*Node, timeout time.Duration) error {
	return c.WaitState(ctx, nodes, timeout, "idle")
}

// WaitState waits until sinfo on the head node shows each of nodes in one
// of states (sinfo's short %t names: idle, drain, drng, mix, alloc, down).
func (c *Cluster) WaitState(ctx context.Context, nodes []*Node, timeout time.Duration, states ...string) error {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		out, err := c.Head.Output(ctx, "sinfo", "-h", "-N", "-o", "%N %t")
		last = out
		if err == nil && allIn(parseSinfo(out), nodes, states) {
			return nil
		}
		if err != nil {
			last = err.Error()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("nodes not %s after %s; sinfo says:\n%s", strings.Join(states, "/"), timeout, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// parseSinfo reads `sinfo -h -N -o '%N %t'` into node -> state.
func parseSinfo(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			m[f[0]] = f[1]
		}
	}
	return m
}

func allIn(states map[string]string, nodes []*Node, want []string) bool {
	for _, n := range nodes {
		ok := false
		for _, w := range want {
			ok = ok || states[n.Name] == w
		}
		if !ok {
			return false
		}
	}
	return true
}

// SlurmNode is what slurmctld says of a node (scontrol show node on the
// head node): its state flags and drain reason.
func (c *Cluster) SlurmNode(ctx context.Context, name string) (slurm.Node, error) {
	out, err := c.Head.Output(ctx, "scontrol", "show", "node", name)
	if err != nil {
		return slurm.Node{}, err
	}
	return slurm.ParseNode(out)
}

// Scontrol runs scontrol on the head node, as an admin there does.
func (c *Cluster) Scontrol(ctx context.Context, args ...string) error {
	_, err := c.Head.Output(ctx, append([]string{"scontrol"}, args...)...)
	return err
}
