package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/cluster"
)

// imageCacheConfig turns the shared image cache on for every node, on the
// directory all nodes mount (/fsx, FSx for Lustre in the example cluster).
// The head node needs it too: it owns the plugstack, where the cache puts
// the importer into the Pyxis line.
func imageCacheConfig(*cluster.Node) map[string]any {
	return map[string]any{"images": map[string]any{"cache": true, "dir": "/fsx/enroot-agent/images"}}
}

// testImageCache is scenario 7: with the image cache on a directory shared
// by every node, srun -N3 of an image no node has imports it once for the
// whole cluster, every node's daemon serves it (the digest verified with
// the agent's credentials, the request from the job step's slurmstepd,
// /fsx passing the trusted-path check under systemd), and the registry
// sends its bytes once.
func testImageCache(t *testing.T, c *bed) {
	c.rollOut(t, "image-cache", imageCacheConfig)
	filler := make([]byte, 3<<20) // incompressible: the layer is the image's size
	_, _ = rand.Read(filler)
	repo := "ml/fresh-" + hex.EncodeToString(filler[:4])
	image, err := c.Services.PushImage(repo, "v1", map[string]string{cluster.GreetingFile: c.Services.Greeting + "\n",
		"/data/weights": hex.EncodeToString(filler)})
	if err != nil {
		t.Fatal(err)
	}
	before := sumMetric(t, c, "enroot_agent_image_cache_imports_total")

	args := []string{"srun", "-N" + strconv.Itoa(len(c.Computes)), "--container-image=" + image,
		"sh", "-c", `echo "$(cat ` + cluster.GreetingFile + `) on $SLURMD_NODENAME"`}
	out, err := c.Head.UserOutput(ctxFor(t, 10*time.Minute), cluster.User, args...)
	if err != nil {
		t.Fatalf("as %s, %s: %s\n%s", cluster.User, strings.Join(args, " "), c.Services.Redact(err.Error()), out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	sort.Strings(lines)
	if len(lines) != len(c.Computes) || !strings.HasPrefix(lines[0], c.Services.Greeting+" on compute") {
		t.Fatalf("srun -N%d --container-image=%s printed %q", len(c.Computes), image, out)
	}

	if imports := sumMetric(t, c, "enroot_agent_image_cache_imports_total") - before; imports != 1 {
		t.Errorf("%d imports of %s across the cluster, want 1", imports, image)
	}
	// Served by the cache on every node, not by the user's own fallback
	// import (which also prints from the image): a refusal before any work
	// (not a job step, a user limit) logs no "cannot serve", so each
	// node's daemon must have logged serving it.
	for _, n := range c.Computes {
		journal := c.Services.Redact(n.Journal(ctxFor(t, time.Minute), "enroot-agent.service"))
		if !servedOn(journal, repo) || strings.Contains(journal, "image cache cannot serve") && strings.Contains(journal, repo) {
			t.Errorf("%s: the cache did not serve %s:\n%s", n.Name, image, tail(journal, 3000))
		}
	}
	// The registry's access log: every blob of the image sent once, so its
	// bytes are one image's worth, not one per node.
	blob := regexp.MustCompile(`"GET /v2/` + regexp.QuoteMeta(repo) + `/blobs/(sha256:[0-9a-f]+) HTTP/1.1" 200 (\d+)`)
	sent, times := 0, map[string]int{}
	for _, m := range blob.FindAllStringSubmatch(c.Services.RegistryLog(), -1) {
		n, _ := strconv.Atoi(m[2])
		sent += n
		times[m[1]]++
	}
	layer := 2 * len(filler) // hex-encoded in the image
	for d, n := range times {
		if n != 1 {
			t.Errorf("blob %s of %s sent %d times, want once", d, repo, n)
		}
	}
	if sent < layer/2 || sent > layer*3/2 {
		t.Errorf("the registry sent %d bytes of %s's blobs, want about one image (%d bytes of file, compressed)", sent, repo, layer)
	}
	t.Logf("one import of %s; the registry sent %d bytes of its blobs (%d blobs)", image, sent, len(times))
}

// servedOn says whether a daemon's journal has it serving repo.
func servedOn(journal, repo string) bool {
	for _, line := range strings.Split(journal, "\n") {
		if strings.Contains(line, "served a cached image") && strings.Contains(line, repo) {
			return true
		}
	}
	return false
}

// sumMetric adds up every series of a counter over the compute nodes'
// /metrics.
func sumMetric(t *testing.T, c *bed, name string) int {
	t.Helper()
	total := 0
	for _, n := range c.Computes {
		code, body := get(n.AgentURL() + "/metrics")
		if code != 200 {
			t.Fatalf("%s: /metrics: HTTP %d\n%s", n.Name, code, body)
		}
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
				f := strings.Fields(line)
				v, _ := strconv.ParseFloat(f[len(f)-1], 64)
				total += int(v)
			}
		}
	}
	return total
}
