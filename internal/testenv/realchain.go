package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
)

// RealChain is the whole path of a job's image on a real node, on this
// machine's real root: the real agent installs the real Enroot .debs and
// builds the real Pyxis from a local mirror, gets an ECR token through the
// real AWS SDK (IMDSv2 and ECR emulators), and a non-root user's srun
// --container-image runs through real Slurm daemons, Pyxis and Enroot
// pulling from Debian's real docker-registry with that token.
//
// How enroot reaches the registry under the ECR host name: enroot.conf (set
// through the agent's enroot.conf keys) points https_proxy at a tiny CONNECT
// proxy that tunnels <host>:443 to the registry's 127.0.0.1 port, and
// SSL_CERT_FILE at the test CA (the registry's certificate names the host).
// That needs no /etc/hosts line, no change to the system trust store and no
// port 443, and exercises the agent's enroot.conf keys as a site behind a
// proxy uses them.
type RealChain struct {
	Host  string // the ECR registry host
	Image string // the --container-image value
	File  string // a file in the image
	Want  string // its content
	Dir   string // work dir, traversable by every user
	Bin   string // the agent binary
	User  string // the non-root user, once AddUser ran
	Share int    // jobs that may run on the node at once (before StartSlurm)
	// Node is the Slurm NodeName (before StartSlurm; "ea-real1" when
	// empty). Enroot's PyTorch hook hands it to jobs as MASTER_ADDR, so a
	// rendezvous test names the node "localhost", which resolves.
	Node string

	Config, Plugstack, StateDir string
	Env                         []string // the agent's environment

	IMDS     *IMDS
	ECR      *ECR
	Registry *Registry
	Proxy    *ConnectProxy
	Slurm    *Slurm
	Bus      *SystemdStub

	upstream *Upstream
	guard    *HostGuard
	token    string
	closers  []func()
}

// Real-chain versions: the upstream artifacts these name must be present.
const (
	RealEnrootVersion = "4.1.2"
	RealPyxisVersion  = "0.24.0"
	RealChainHost     = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
)

// NewRealChain checks that this machine can run the chain (root, Slurm,
// munge, the registry, user namespaces for a non-root user, the upstream
// artifacts), takes the host, and starts every stand-in. Close undoes it all.
func NewRealChain(bin string) (*RealChain, error) {
	if err := realChainPreflight(); err != nil {
		return nil, err
	}
	up, err := LoadUpstream("enroot_"+RealEnrootVersion+"-1_amd64.deb", "enroot+caps_"+RealEnrootVersion+"-1_amd64.deb",
		"pyxis-"+RealPyxisVersion+".tar.gz")
	if err != nil {
		return nil, err
	}
	guard, err := GuardHost()
	if err != nil {
		return nil, err
	}
	c := &RealChain{Host: RealChainHost, Image: RealChainHost + "#ml/hello:v1", File: "/etc/greeting",
		Bin: bin, upstream: up, guard: guard}
	c.Want = "hello from " + RealChainHost + " " + randomHex(4)
	c.token = "ecr" + randomHex(20)
	steps := []func() error{c.makeDir, c.startAWS, c.startBus, c.startRegistry, c.startMirror}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, errors.Join(err, c.Close())
		}
	}
	return c, nil
}

func (c *RealChain) makeDir() error {
	dir, err := os.MkdirTemp("", "enroot-agent-real-")
	if err != nil {
		return err
	}
	c.Dir = dir
	c.StateDir = filepath.Join(dir, "state")
	if err := c.guard.AddDir(dir); err != nil {
		return err
	}
	return os.Chmod(dir, 0o755)
}

func (c *RealChain) startAWS() error {
	var err error
	if c.IMDS, err = NewIMDS("123456789012", "us-east-1"); err != nil {
		return err
	}
	c.closers = append(c.closers, c.IMDS.Close)
	if c.ECR, err = NewECR(); err != nil {
		return err
	}
	c.closers = append(c.closers, c.ECR.Close)
	c.ECR.AccessKey = c.IMDS.AccessKey
	c.ECR.SetPassword(c.token)
	c.Env = append(CleanEnv(os.Environ()), AWSEnv(c.IMDS, c.ECR, c.Dir)...)
	c.Env = append(c.Env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	return nil
}

// startBus stands in for systemd, which this machine may not run as PID 1:
// the agent's slurmd-restart reaches it over D-Bus as on a node.
func (c *RealChain) startBus() error {
	stub, stop, err := StartSystemdStub(c.Dir)
	if err != nil {
		return err
	}
	c.Bus = stub
	c.closers = append(c.closers, stop)
	c.Env = append(c.Env, "DBUS_SYSTEM_BUS_ADDRESS="+stub.Addr)
	return nil
}

// startRegistry runs the registry under the ECR host name with the token ECR
// hands out as its password, pushes the image, and starts the proxy to it.
func (c *RealChain) startRegistry() error {
	dir := filepath.Join(c.Dir, "registry")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	var err error
	if c.Registry, err = NewRegistry(dir, []string{c.Host}, c.token); err != nil {
		return err
	}
	c.closers = append(c.closers, c.Registry.Close)
	ref := c.Host + ":" + c.Registry.Port + "/ml/hello:v1"
	if _, err := c.Registry.PushFileImage(ref, c.token, map[string]string{c.File: c.Want + "\n"}); err != nil {
		return err
	}
	if c.Proxy, err = NewConnectProxy(map[string]string{c.Host: c.Registry.Addr}); err != nil {
		return err
	}
	c.closers = append(c.closers, c.Proxy.Close)
	return nil
}

// startMirror serves the upstream directory over HTTP, as a site mirror of
// NVIDIA's release pages would, and writes the agent's config.
func (c *RealChain) startMirror() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(c.upstream.Dir))}
	go srv.Serve(ln)
	c.closers = append(c.closers, func() { srv.Close() })
	return c.writeConfig("http://" + ln.Addr().String() + "/")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
