package testenv

import (
	"fmt"
	"os"
	"path/filepath"
)

// SlurmConf writes dir/slurm.conf whose PlugStackConfig is plugstack: enough
// for srun, sbatch and salloc --help (with SLURM_CONF pointing at it) to load
// the plugstack with no Slurm daemon running. It returns the file's path.
func SlurmConf(dir, plugstack string) (string, error) {
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
