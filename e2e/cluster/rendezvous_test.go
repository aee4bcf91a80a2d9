package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/cluster"
	"github.com/enroot-agent/enroot-agent/internal/fake/rendezvous"
)

// hooksOff turns Enroot's two Slurm hooks off on every node.
func hooksOff(*cluster.Node) map[string]any {
	return map[string]any{"enroot": map[string]any{"hooks": map[string]any{"50-slurm-pmi.sh": false, "50-slurm-pytorch.sh": false}}}
}

// testRendezvous is the proof of issue 23 on the cluster: a non-root
// user's srun -N2 --container-image of an image whose environment has
// PYTORCH_VERSION runs one rank on each of two compute nodes; Enroot's
// PyTorch hook, which the agents installed, gives them MASTER_ADDR (the
// step's first node, by name), MASTER_PORT and WORLD_SIZE, Pyxis gives
// RANK, and the two ranks meet over TCP and print each other's rank. With
// the hooks turned off (enroot.hooks, rolled out as pcluster
// update-cluster does) the same job fails to rendezvous; turned on again,
// it meets again.
func testRendezvous(t *testing.T, c *bed) {
	image, err := c.Services.PushRendezvous("ml/rendezvous", "v1")
	if err != nil {
		t.Fatal(err)
	}
	args := rendezvous.Args(image, 2, 2)
	run := func() (string, error) {
		return c.Head.UserOutput(ctxFor(t, 5*time.Minute), cluster.User, args...)
	}
	out, err := run()
	if err != nil {
		t.Fatalf("as %s on the head node, %s: %v\n%s", cluster.User, strings.Join(args, " "), c.Services.Redact(err.Error()), out)
	}
	if err := rendezvous.Check(out, 2); err != nil {
		t.Fatal(err)
	}
	t.Logf("with the hooks:\n%s", out)

	c.rollOut(t, "hooks-off", hooksOff)
	out, err = run()
	if err == nil || rendezvous.Check(out, 2) == nil || !strings.Contains(err.Error(), "MASTER_ADDR, MASTER_PORT, WORLD_SIZE not set") {
		t.Fatalf("with the hooks off the ranks must fail to meet, for want of MASTER_ADDR: %v\n%s", err, out)
	}
	t.Logf("without the hooks: %v", c.Services.Redact(err.Error()))

	c.rollBack(t, "hooks-off")
	if out, err = run(); err != nil || rendezvous.Check(out, 2) != nil {
		t.Fatalf("with the hooks on again: %v\n%s", err, out)
	}
}
