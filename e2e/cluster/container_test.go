package cluster

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/cluster"
)

// testContainerJob is scenario 3, what the agent is for: a non-root user
// with no setup of their own runs srun -N3 --container-image=<ECR
// host>#repo:tag on the head node, and every compute node's real Pyxis and
// Enroot pull the image with the token its agent keeps, and run it.
func testContainerJob(t *testing.T, c *bed) {
	tunnels := c.Services.Proxy.Tunnels()
	got, err := srunContainer(t, c, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{}
	for _, n := range c.Computes {
		want = append(want, c.Services.Greeting+" on "+n.Name)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("srun -N3 --container-image printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if c.Services.Proxy.Tunnels() < tunnels+3 {
		t.Fatalf("the image reached the nodes without going through the registry (%d tunnels before, %d after)",
			tunnels, c.Services.Proxy.Tunnels())
	}
}

// srunContainer runs, as the job user on the head node, srun -N<nodes>
// --container-image=<the test image> printing the greeting and the node,
// and returns the lines sorted.
func srunContainer(t *testing.T, c *bed, nodes int) ([]string, error) {
	t.Helper()
	out, err := c.Head.UserOutput(ctxFor(t, 5*time.Minute), cluster.User, cluster.SrunArgs(nodes)...)
	if err != nil {
		return nil, fmt.Errorf("as %s on the head node, %s: %v\n%s", cluster.User, strings.Join(cluster.SrunArgs(nodes), " "),
			c.Services.Redact(err.Error()), out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	sort.Strings(lines)
	return lines, nil
}
