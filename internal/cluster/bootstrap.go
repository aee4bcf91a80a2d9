package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
)

// bootstrapScript is ParallelCluster's OnNodeConfigured action.
const bootstrapScript = "packaging/parallelcluster/on-node-configured.sh"

// BootstrapPoll is ENROOT_AGENT_POLL for the script (its documented
// variable; 10 s by default): the time to verified is then measured to the
// second rather than to the next 10 s.
const BootstrapPoll = "1"

// Bootstrap is one run of the OnNodeConfigured script on a node.
type Bootstrap struct {
	Node   string
	Start  time.Time     // when the action started
	Took   time.Duration // from the start of the action to the script's exit
	Output string        // what the script printed (tokens redacted)
	Err    error         // the script failed (non-zero exit)
}

// Published is what the mirror serves for a bootstrap: the script, the
// package and each node's config.
type Published struct {
	Script, Package string
	Configs         map[string]string // node name -> URL
}

// Publish puts the script, pkg and every node's config on the mirror, as
// an admin uploads them to the cluster's S3 bucket. extra, when not nil,
// gives keys to merge into a node's config.
func (c *Cluster) Publish(pkg Package, extra func(*Node) map[string]any) (Published, error) {
	script, err := os.ReadFile(filepath.Join(fake.ModuleRoot(), bootstrapScript))
	if err != nil {
		return Published{}, err
	}
	p := Published{Configs: map[string]string{}}
	if p.Script, err = c.Services.Publish("scripts", "on-node-configured.sh", script); err != nil {
		return p, err
	}
	deb, err := os.ReadFile(pkg.Path)
	if err != nil {
		return p, err
	}
	if p.Package, err = c.Services.Publish("packages", filepath.Base(pkg.Path), deb); err != nil {
		return p, err
	}
	for _, n := range c.Nodes() {
		var more map[string]any
		if extra != nil {
			more = extra(n)
		}
		conf, err := c.nodeConfig(n, more)
		if err != nil {
			return p, err
		}
		if p.Configs[n.Name], err = c.Services.Publish("configs", n.Name+".yaml", conf); err != nil {
			return p, err
		}
	}
	return p, nil
}

// Bootstrap runs the OnNodeConfigured action on n as ParallelCluster runs
// it: as root, in a service of the node's systemd (as cloud-init's final
// stage does), fetching the script from the bucket and running it with the
// package and the node's config as its arguments, plus args.
func (c *Cluster) Bootstrap(ctx context.Context, n *Node, pub Published, args ...string) Bootstrap {
	unit := "on-node-configured-" + randomHex(3)
	fetchAndRun := `set -e; f=$(mktemp /var/tmp/on-node-configured.XXXXXX); curl -fsS --retry 3 -o "$f" "$0"; ` +
		`chmod 0755 "$f"; rc=0; "$f" "$@" || rc=$?; rm -f "$f"; exit $rc`
	all := []string{"systemd-run", "--quiet", "--wait", "--pipe", "--collect", "--unit=" + unit,
		"--setenv=ENROOT_AGENT_POLL=" + BootstrapPoll, "--", "/bin/bash", "-c", fetchAndRun,
		pub.Script, pub.Package, "--config", pub.Configs[n.Name]}
	all = append(all, args...)
	start := time.Now()
	cmd := n.Command(ctx, all...)
	out, err := cmd.CombinedOutput()
	b := Bootstrap{Node: n.Name, Start: start, Took: time.Since(start), Output: c.Services.Redact(string(out))}
	if err != nil {
		b.Err = fmt.Errorf("on-node-configured.sh on %s: %w", n.Name, err)
	}
	return b
}

// BootstrapCluster bootstraps the head node, then every compute node at
// once: ParallelCluster configures the head node before it starts any
// compute node, which is what lets the head node own the plugstack.
func (c *Cluster) BootstrapCluster(ctx context.Context, pub Published, args ...string) ([]Bootstrap, error) {
	head := c.Bootstrap(ctx, c.Head, pub, args...)
	if head.Err != nil {
		return []Bootstrap{head}, fmt.Errorf("%w\n%s", head.Err, head.Output)
	}
	results := make([]Bootstrap, len(c.Computes))
	var wg sync.WaitGroup
	for i, n := range c.Computes {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = c.Bootstrap(ctx, n, pub, args...) }()
	}
	wg.Wait()
	var errs []error
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%w\n%s", r.Err, r.Output))
		}
	}
	return append([]Bootstrap{head}, results...), errors.Join(errs...)
}

// writeNodeEnv gives the node what an EC2 instance finds at fixed
// addresses, in the environment of every unit the node's systemd starts:
// its own metadata service and the regional ECR endpoint (the SDK's
// standard variables), and the registry under its ECR name (Go's and
// curl's HTTPS_PROXY and SSL_CERT_FILE, which the agent's registry probe
// honours); and the registry's CA where these and enroot.conf point.
func (c *Cluster) writeNodeEnv(n *Node) error {
	imds := c.Services.IMDS[n.Name]
	env := fmt.Sprintf("# The cluster test bed: where this node finds its instance metadata, ECR and the registry.\n"+
		"[Manager]\nDefaultEnvironment=\"AWS_EC2_METADATA_SERVICE_ENDPOINT=%s\" \"AWS_ENDPOINT_URL_ECR=%s\" "+
		"\"HTTPS_PROXY=%s\" \"SSL_CERT_FILE=%s\"\n", imds.URL, c.Services.ECR.URL, c.Services.Proxy.URL, CAPath)
	dir := filepath.Join(n.Root, "etc/systemd/system.conf.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "90-enroot-agent-test.conf"), []byte(env), 0o644); err != nil {
		return err
	}
	ca, err := os.ReadFile(c.Services.Registry.CAFile)
	if err != nil {
		return err
	}
	caPath := filepath.Join(n.Root, CAPath)
	if err := os.MkdirAll(filepath.Dir(caPath), 0o755); err != nil {
		return err
	}
	return os.WriteFile(caPath, ca, 0o644)
}

// AWSEnv is the environment a root shell on n needs for the agent's
// commands that call AWS themselves (refresh, apply): what its units get.
func (c *Cluster) AWSEnv(n *Node) []string {
	return []string{"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + c.Services.IMDS[n.Name].URL,
		"AWS_ENDPOINT_URL_ECR=" + c.Services.ECR.URL, "HTTPS_PROXY=" + c.Services.Proxy.URL, "SSL_CERT_FILE=" + CAPath}
}

// AgentURL is the agent's verify.listen address on n, for /verify,
// /healthz and /metrics.
func (n *Node) AgentURL() string { return "http://127.0.0.1:" + strconv.Itoa(n.AgentPort) }

// Unit reads properties of a unit on the node (systemctl show), e.g.
// ActiveState, StatusText, NRestarts, MainPID, InvocationID.
func (n *Node) Unit(ctx context.Context, unit string, props ...string) (map[string]string, error) {
	args := []string{"systemctl", "show", unit}
	for _, p := range props {
		args = append(args, "-p", p)
	}
	out, err := n.Output(ctx, args...)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m, nil
}

// PublishPackage puts another build of the agent on the mirror and returns
// pub with it as the package: what an admin does to roll out a new
// version with the same configs.
func (c *Cluster) PublishPackage(pub Published, pkg Package) (Published, error) {
	deb, err := os.ReadFile(pkg.Path)
	if err != nil {
		return pub, err
	}
	next := pub
	next.Configs = map[string]string{}
	for k, v := range pub.Configs {
		next.Configs[k] = v
	}
	next.Package, err = c.Services.Publish("packages", filepath.Base(pkg.Path), deb)
	return next, err
}
