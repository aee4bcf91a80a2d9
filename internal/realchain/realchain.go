package realchain

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/enroot-agent/enroot-agent/internal/fake/aws"
	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
	"github.com/enroot-agent/enroot-agent/internal/fake/registry"
	"github.com/enroot-agent/enroot-agent/internal/fake/slurm"
	"github.com/enroot-agent/enroot-agent/internal/fake/systemd"
)

// Chain is the whole path of a job's image on a real node, on this
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
type Chain struct {
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

	IMDS     *aws.IMDS
	ECR      *aws.ECR
	Registry *registry.Registry
	Proxy    *aws.ConnectProxy
	Slurm    *slurm.Slurm
	Bus      *systemd.Stub

	upstream *pkgrepo.Upstream
	guard    *Guard
	token    string
	closers  []func()
}

// Host is the ECR registry host the chain's image is pulled from.
const Host = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

// Start checks that this machine can run the chain (root, Slurm,
// munge, the registry, user namespaces for a non-root user, the upstream
// artifacts), takes the host, and starts every stand-in. Close undoes it all.
func Start(bin string) (*Chain, error) {
	if err := preflight(); err != nil {
		return nil, err
	}
	up, err := pkgrepo.LoadUpstream("enroot_"+pkgrepo.RealEnrootVersion+"-1_amd64.deb", "enroot+caps_"+pkgrepo.RealEnrootVersion+"-1_amd64.deb",
		"pyxis-"+pkgrepo.RealPyxisVersion+".tar.gz")
	if err != nil {
		return nil, err
	}
	guard, err := StartGuard()
	if err != nil {
		return nil, err
	}
	c := &Chain{Host: Host, Image: Host + "#ml/hello:v1", File: "/etc/greeting",
		Bin: bin, upstream: up, guard: guard}
	c.Want = "hello from " + Host + " " + randomHex(4)
	c.token = "ecr" + randomHex(20)
	steps := []func() error{c.makeDir, c.startAWS, c.startBus, c.startRegistry, c.startMirror}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, errors.Join(err, c.Close())
		}
	}
	return c, nil
}

func (c *Chain) makeDir() error {
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

func (c *Chain) startAWS() error {
	var err error
	if c.IMDS, err = aws.StartIMDS("123456789012", "us-east-1"); err != nil {
		return err
	}
	c.closers = append(c.closers, c.IMDS.Close)
	if c.ECR, err = aws.StartECR(); err != nil {
		return err
	}
	c.closers = append(c.closers, c.ECR.Close)
	c.ECR.AccessKey = c.IMDS.AccessKey
	c.ECR.SetPassword(c.token)
	c.Env = append(aws.CleanEnv(os.Environ()), aws.Env(c.IMDS, c.ECR, c.Dir)...)
	c.Env = append(c.Env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	return nil
}

// startBus stands in for systemd, which this machine may not run as PID 1:
// the agent's slurmd-restart reaches it over D-Bus as on a node.
func (c *Chain) startBus() error {
	stub, err := systemd.StartStub(c.Dir)
	if err != nil {
		return err
	}
	c.Bus = stub
	c.closers = append(c.closers, stub.Close)
	c.Env = append(c.Env, "DBUS_SYSTEM_BUS_ADDRESS="+stub.Addr)
	return nil
}

// startRegistry runs the registry under the ECR host name with the token ECR
// hands out as its password, pushes the image, and starts the proxy to it.
func (c *Chain) startRegistry() error {
	dir := filepath.Join(c.Dir, "registry")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	var err error
	if c.Registry, err = registry.Start(dir, []string{c.Host}, c.token); err != nil {
		return err
	}
	c.closers = append(c.closers, c.Registry.Close)
	ref := c.Host + ":" + c.Registry.Port + "/ml/hello:v1"
	if _, err := c.Registry.PushFileImage(ref, c.token, map[string]string{c.File: c.Want + "\n"}); err != nil {
		return err
	}
	if c.Proxy, err = aws.StartConnectProxy(map[string]string{c.Host: c.Registry.Addr}); err != nil {
		return err
	}
	c.closers = append(c.closers, c.Proxy.Close)
	return nil
}

// startMirror serves the upstream directory over HTTP, as a site mirror of
// NVIDIA's release pages would, and writes the agent's config.
func (c *Chain) startMirror() error {
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
