package cluster

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/cluster"
)

// testSlurm: the cluster itself works before the agent is there: a
// non-root user's srun on the head node runs on every compute node, through
// the real slurmctld and slurmd units of the upstream Slurm in /opt/slurm.
func testSlurm(t *testing.T, c *bed) {
	out, err := c.Head.UserOutput(ctxFor(t, 2*time.Minute), cluster.User, "srun", "-N3", "hostname")
	if err != nil {
		t.Fatalf("srun -N3 hostname as %s: %v", cluster.User, err)
	}
	got := strings.Fields(out)
	sort.Strings(got)
	if strings.Join(got, " ") != "compute1 compute2 compute3" {
		t.Fatalf("srun -N3 hostname printed %q, want each compute node once", out)
	}
	ver, err := c.Head.Output(ctxFor(t, time.Minute), "srun", "--version")
	if err != nil || !strings.Contains(ver, "slurm "+cluster.DefaultSlurm) {
		t.Fatalf("srun --version: %q, %v; want Slurm %s from /opt/slurm", ver, err, cluster.DefaultSlurm)
	}
}
