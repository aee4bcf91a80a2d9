package slurm

import (
	"fmt"
	"os"
	"path/filepath"
)

// Conf writes dir/slurm.conf whose PlugStackConfig is plugstack: enough
// for srun, sbatch and salloc --help (with SLURM_CONF pointing at it) to load
// the plugstack with no Slurm daemon running. It returns the file's path.
func Conf(dir, plugstack string) (string, error) {
	path := filepath.Join(dir, "slurm.conf")
	conf := fmt.Sprintf(`ClusterName=enroot-agent-test
SlurmctldHost=localhost
PlugStackConfig=%s
PropagateResourceLimitsExcept=MEMLOCK
NodeName=localhost CPUs=1 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES
`, plugstack)
	return path, os.WriteFile(path, []byte(conf), 0o644)
}

// conf is a minimal one-node cluster (see FACTS.md: linuxproc proctrack and
// no task plugin, so no cgroups are needed).
func (s *Slurm) conf(sock string, ports []int) string {
	share := ""
	if s.opts.Share > 1 {
		share = fmt.Sprintf(" OverSubscribe=FORCE:%d", s.opts.Share)
	}
	d := s.Dir
	return fmt.Sprintf(`ClusterName=enroot-agent-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=%d
SlurmdPort=%d
AuthType=auth/munge
AuthInfo=socket=%s
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=%s/state
SlurmdSpoolDir=%s/spool
SlurmctldPidFile=%s/slurmctld.pid
SlurmdPidFile=%s/slurmd.pid
SlurmctldLogFile=%s/slurmctld.log
SlurmdLogFile=%s/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
NodeName=%s NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=1 State=UNKNOWN
PartitionName=debug Nodes=%s Default=YES MaxTime=INFINITE State=UP%s
`, ports[0], ports[1], sock, d, d, d, d, d, d, s.Node, s.Node, share)
}
