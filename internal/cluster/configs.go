package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/enroot-agent/enroot-agent/internal/fake"
	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
)

// The node configs of docs/parallelcluster.md's head-node layout: the head
// node owns the shared plugstack, compute nodes only check it.
const (
	headNodeConfig    = "packaging/parallelcluster/head-node.yaml"
	computeNodeConfig = "packaging/parallelcluster/compute-node.yaml"
)

// CAPath is where each node keeps the test registry's CA, which its enroot
// trusts through enroot.conf's SSL_CERT_FILE.
const CAPath = "/etc/ssl/enroot-agent-test/registry-ca.pem"

// nodeConfig is the shipped config of the node's role with what only this
// test bed has: where the real Enroot and Pyxis are mirrored, the proxy and
// CA through which enroot reaches the registry by its ECR name, and
// verify.listen on a port of the node's own (every node shares the host's
// 127.0.0.1). ecr.registries stays empty: the registry comes from the
// node's instance identity, as on ParallelCluster. extra is merged last.
func (c *Cluster) nodeConfig(n *Node, extra map[string]any) ([]byte, error) {
	shipped := computeNodeConfig
	if !n.Compute {
		shipped = headNodeConfig
	}
	data, err := os.ReadFile(filepath.Join(fake.ModuleRoot(), shipped))
	if err != nil {
		return nil, err
	}
	conf := map[string]any{}
	if err := yaml.Unmarshal(data, &conf); err != nil {
		return nil, fmt.Errorf("%s: %w", shipped, err)
	}
	pyxisTar := "pyxis-" + pkgrepo.RealPyxisVersion + ".tar.gz"
	sum, ok := c.Upstream.Sums[pyxisTar]
	if !ok {
		return nil, fmt.Errorf("%s/SHA256SUMS does not list %s", c.Upstream.Dir, pyxisTar)
	}
	mirror := c.Services.MirrorURL + "/upstream/"
	Merge(conf, map[string]any{
		"enroot": map[string]any{
			"version": pkgrepo.RealEnrootVersion,
			"source":  mirror,
			"conf":    map[string]any{"https_proxy": c.Services.Proxy.URL, "SSL_CERT_FILE": CAPath},
		},
		"pyxis": map[string]any{
			"version": pkgrepo.RealPyxisVersion,
			"source":  mirror + "pyxis-{version}.tar.gz",
			"sha256":  sum,
		},
		"verify": map[string]any{"listen": "127.0.0.1:" + strconv.Itoa(n.AgentPort)},
	})
	Merge(conf, extra)
	out, err := yaml.Marshal(conf)
	if err != nil {
		return nil, err
	}
	head := "# " + shipped + ", with the cluster test bed's mirror, registry proxy and verify port\n"
	return append([]byte(head), out...), nil
}

// Merge copies src into dst, recursing into mappings both have.
func Merge(dst, src map[string]any) {
	for k, v := range src {
		sub, ok := v.(map[string]any)
		if have, ok2 := dst[k].(map[string]any); ok && ok2 {
			Merge(have, sub)
			continue
		}
		dst[k] = v
	}
}
