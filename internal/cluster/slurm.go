package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
