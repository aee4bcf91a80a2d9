// Package cluster is the cluster test bed: a Slurm cluster on one machine
// that runs enroot-agent the way AWS ParallelCluster runs it. A head node
// and compute nodes are systemd-nspawn containers booting a real systemd
// from a Debian 12 rootfs (built once with debootstrap and cached); one
// upstream Slurm build lives in a host directory mounted as /opt/slurm,
// read-write on the head node and read-only on compute nodes, as
// ParallelCluster NFS-exports it; munge has one key; slurmctld and slurmd
// are systemd units; /home is shared. Nodes share the host's network, so
// every daemon has a port of its own on 127.0.0.1.
//
// New starts it, Close stops it and leaves the host as it was (no
// processes, mounts or cgroups; the rootfs cache under /var/cache stays).
// The tests (e2e/cluster), the benchmark (bench/) and make demo use it.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
)

// Options shape a cluster; the zero value is head + 3 compute nodes on
// Slurm 24.11.7.
type Options struct {
	Computes int    // compute nodes (3)
	Slurm    string // Slurm version from the upstream directory (DefaultSlurm)
	CacheDir string // rootfs cache ($ENROOT_AGENT_CLUSTER_CACHE, else DefaultCacheDir)
	// Package is the agent's .deb to install; empty: New builds one from
	// the checkout with make deb.
	Package string
	// Log receives progress lines (nil: none).
	Log func(format string, args ...any)
}

// Timings are what bring-up cost.
type Timings struct {
	Rootfs      time.Duration // finding or building the cached rootfs
	RootfsBuilt bool          // this run built it
	Prepare     time.Duration // mounting it for each node and writing their files
	Boot        time.Duration // every node's systemd running
	Idle        time.Duration // from boot to every compute node idle in Slurm
	Total       time.Duration // bring-up: all of the above
	Package     time.Duration // make deb, meanwhile
}

// User is the non-root user who runs jobs, on every node with one uid.
const (
	User    = "hpcuser"
	UserUID = 2001
)

// Cluster is a running test cluster.
type Cluster struct {
	Dir      string // work dir on the host (node roots, /opt/slurm, /home)
	Head     *Node
	Computes []*Node
	Slurm    string // version now in /opt/slurm
	Timings  Timings

	SlurmDir string // the host directory mounted as /opt/slurm
	HomeDir  string // the host directory mounted as /home
	// FSxDir is the host directory every node mounts read-write as /fsx,
	// standing in for the FSx for Lustre file system of the example
	// cluster config.
	FSxDir   string
	Upstream *pkgrepo.Upstream
	Services *Services
	Package  Package // the agent's .deb the nodes install

	controllerPort int
	opts           Options
	lock           *os.File
	closeOnce      sync.Once
}

// New brings a cluster up: waits for any other cluster on this machine to
// go, cleans up after a killed one, builds or reuses the rootfs, prepares
// and boots every node, and waits until every compute node is idle.
func New(ctx context.Context, opts Options) (c *Cluster, err error) {
	if opts.Computes == 0 {
		opts.Computes = 3
	}
	if opts.Slurm == "" {
		opts.Slurm = DefaultSlurm
	}
	if opts.Log == nil {
		opts.Log = func(string, ...any) {}
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("the cluster test bed needs root (systemd-nspawn, cgroups)")
	}
	if opts.CacheDir == "" {
		opts.CacheDir = os.Getenv(CacheEnv)
	}
	up, err := pkgrepo.LoadUpstream(SlurmTarball(opts.Slurm), "enroot_"+pkgrepo.RealEnrootVersion+"-1_amd64.deb",
		"enroot+caps_"+pkgrepo.RealEnrootVersion+"-1_amd64.deb", "pyxis-"+pkgrepo.RealPyxisVersion+".tar.gz")
	if err != nil {
		return nil, err
	}
	c = &Cluster{opts: opts, Upstream: up}
	if err := c.takeHost(); err != nil {
		return nil, err
	}
	pkg := sync.OnceValue(c.buildPackage(ctx))
	defer func() {
		if err != nil {
			err = errors.Join(err, pkg().err, c.Close()) // the build writes into c.Dir: let it finish
			c = nil
		}
	}()
	start := time.Now()
	base, built, err := Rootfs(opts.CacheDir, opts.Log)
	if err != nil {
		return c, err
	}
	c.Timings.Rootfs, c.Timings.RootfsBuilt = time.Since(start), built
	t := time.Now()
	if err := c.planNodes(); err != nil {
		return c, err
	}
	if c.Services, err = startServices(c.Dir, up, c.Nodes()); err != nil {
		return c, err
	}
	if err := c.prepare(base); err != nil {
		return c, err
	}
	c.Timings.Prepare = time.Since(t)
	t = time.Now()
	if err := c.bootAll(ctx); err != nil {
		return c, err
	}
	c.Timings.Boot = time.Since(t)
	t = time.Now()
	if err := c.WaitIdle(ctx, c.Computes, 2*time.Minute); err != nil {
		return c, err
	}
	c.Timings.Idle = time.Since(t)
	c.Timings.Total = time.Since(start)
	deb := pkg()
	if deb.err != nil {
		return c, deb.err
	}
	c.Package, c.Timings.Package = deb.pkg, deb.took
	opts.Log("cluster up in %s (rootfs %s, prepare %s, boot %s, idle %s; make deb meanwhile %s)",
		c.Timings.Total.Round(time.Millisecond), c.Timings.Rootfs.Round(time.Millisecond),
		c.Timings.Prepare.Round(time.Millisecond), c.Timings.Boot.Round(time.Millisecond),
		c.Timings.Idle.Round(time.Millisecond), c.Timings.Package.Round(time.Millisecond))
	return c, nil
}

// Nodes are the head node and the compute nodes.
func (c *Cluster) Nodes() []*Node {
	if c.Head == nil {
		return c.Computes
	}
	return append([]*Node{c.Head}, c.Computes...)
}

// Node finds a node by name.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.Nodes() {
		if n.Name == name {
			return n
		}
	}
	return nil
}

type packageResult struct {
	pkg  Package
	took time.Duration
	err  error
}

// buildPackage starts building the agent's .deb (unless Options gave one)
// while the nodes come up; the function it returns waits for it.
func (c *Cluster) buildPackage(ctx context.Context) func() packageResult {
	ch := make(chan packageResult, 1)
	if c.opts.Package != "" {
		ch <- packageResult{pkg: packageFromPath(c.opts.Package)}
	} else {
		go func() {
			start := time.Now()
			pkg, err := BuildPackage(ctx, filepath.Join(c.Dir, "dist"), "", "")
			ch <- packageResult{pkg, time.Since(start), err}
		}()
	}
	return func() packageResult { return <-ch }
}

// planNodes names the nodes and gives each its ports.
func (c *Cluster) planNodes() error {
	c.SlurmDir = filepath.Join(c.Dir, "opt-slurm")
	c.HomeDir = filepath.Join(c.Dir, "home")
	c.FSxDir = filepath.Join(c.Dir, "fsx")
	ports, err := freePorts(2 + 2*c.opts.Computes)
	if err != nil {
		return err
	}
	c.controllerPort = ports[0]
	tag := filepath.Base(c.Dir)
	mk := func(name string, compute bool, agentPort, slurmdPort int) *Node {
		n := &Node{Name: name, Root: filepath.Join(c.Dir, "nodes", name, "root"), Compute: compute, AgentPort: agentPort,
			SlurmdPort: slurmdPort, cgname: tag + "-" + name, console: filepath.Join(c.Dir, "console-"+name+".log")}
		slurm := bind{src: c.SlurmDir, dst: "/opt/slurm", ro: compute}
		n.binds = []bind{slurm, {src: c.HomeDir, dst: "/home"}, {src: c.FSxDir, dst: "/fsx"}}
		return n
	}
	c.Head = mk("head", false, ports[1], 0)
	for i := 1; i <= c.opts.Computes; i++ {
		c.Computes = append(c.Computes, mk("compute"+strconv.Itoa(i), true, ports[2*i], ports[2*i+1]))
	}
	return c.saveRecord()
}

// prepare lays out /opt/slurm, /home and every node's root.
func (c *Cluster) prepare(base string) error {
	if err := unpackSlurm(c.Upstream.Dir, c.opts.Slurm, c.SlurmDir); err != nil {
		return err
	}
	c.Slurm = c.opts.Slurm
	if err := c.writeSlurmConf(); err != nil {
		return err
	}
	if err := os.MkdirAll(c.FSxDir, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(c.HomeDir, User), 0o700); err != nil {
		return err
	}
	if err := os.Chown(filepath.Join(c.HomeDir, User), UserUID, UserUID); err != nil {
		return err
	}
	key := make([]byte, 1024)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(c.Nodes()))
	for i, n := range c.Nodes() {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = c.prepareNode(n, base, key) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// writeSlurmConf writes slurm.conf, cgroup.conf and the site plugstack
// into /opt/slurm/etc, as the head node's ParallelCluster setup does.
func (c *Cluster) writeSlurmConf() error {
	conf := slurmConfig{ControllerPort: c.controllerPort, Computes: c.Computes, CPUs: runtime.NumCPU()}
	etc := filepath.Join(c.SlurmDir, "etc")
	files := map[string]string{"slurm.conf": conf.render(), "cgroup.conf": cgroupConf}
	if _, err := os.Stat(filepath.Join(etc, "plugstack.conf")); errors.Is(err, os.ErrNotExist) {
		files["plugstack.conf"] = sitePlugstack
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(data), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// bootAll boots every node at once and waits for each to run.
func (c *Cluster) bootAll(ctx context.Context) error {
	var wg sync.WaitGroup
	nodes := c.Nodes()
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = n.boot(ctx) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close stops every node and removes the work dir; a cluster that fails to
// go says what is left.
func (c *Cluster) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.close() })
	return err
}

func (c *Cluster) close() error {
	if c.Services != nil {
		c.Services.Close()
	}
	var wg sync.WaitGroup
	nodes := c.Nodes()
	errs := make([]error, len(nodes)+2)
	for i, n := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = n.stop() }()
	}
	wg.Wait()
	if c.Dir != "" && errors.Join(errs...) == nil {
		errs[len(nodes)] = os.RemoveAll(c.Dir)
		if errs[len(nodes)] == nil {
			errs[len(nodes)+1] = os.Remove(clusterRecord)
		}
	}
	if c.lock != nil {
		c.lock.Close()
	}
	return errors.Join(errs...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
