package main

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"

	"github.com/enroot-agent/enroot-agent/internal/fake/aws"
	"github.com/enroot-agent/enroot-agent/internal/fake/registry"
	"github.com/enroot-agent/enroot-agent/internal/fake/systemd"
)

// node is the sandbox and the stand-ins around it.
type node struct {
	bin, root, work, slurm, cfg, slurmConf, listen string
	env                                            []string
	imds                                           *aws.IMDS
	ecr                                            *aws.ECR
	reg                                            *registry.Registry
	files                                          net.Listener
	stopBus                                        func()
}

func newNode(bin string) (*node, error) {
	// DEMO_DIR moves the three directories, so the demo's own test does not
	// clash with a demo someone is looking at.
	base := os.Getenv("DEMO_DIR")
	if base == "" {
		base = "/tmp/enroot-agent-demo"
	}
	n := &node{bin: bin, root: base, work: base + "-work", slurm: base + "-slurm", listen: "127.0.0.1:" + freePort()}
	for _, d := range []string{n.root, n.work, n.slurm} {
		if err := os.RemoveAll(d); err != nil {
			return nil, err
		}
		// Traversable by others: the demo's unprivileged user reads through it.
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	steps := []func() error{n.startAWS, n.startBus, n.startRegistry, n.serveArtifacts, n.prepareRoot, n.prepareSlurm}
	for _, step := range steps {
		if err := step(); err != nil {
			n.close()
			return nil, err
		}
	}
	return n, nil
}

func (n *node) startAWS() error {
	var err error
	if n.imds, err = aws.StartIMDS("123456789012", "us-east-1"); err != nil {
		return err
	}
	if n.ecr, err = aws.StartECR(); err != nil {
		return err
	}
	n.ecr.AccessKey = n.imds.AccessKey
	n.env = append(aws.CleanEnv(os.Environ()), aws.Env(n.imds, n.ecr, n.work)...)
	return nil
}

// startBus stands in for systemd on a private, real dbus-daemon (this machine
// has no systemd PID 1), so the agent restarts "slurmd" over D-Bus exactly as
// on a node, and never this machine's own slurmd.
func (n *node) startBus() error {
	stub, err := systemd.StartStub(n.work)
	if err != nil {
		return err
	}
	n.stopBus = stub.Close
	n.env = append(n.env, "DBUS_SYSTEM_BUS_ADDRESS="+stub.Addr, "SLURM_CONF="+n.slurm+"/etc/slurm.conf")
	return nil
}

// startRegistry runs Debian's docker-registry under the ECR host name, with
// the password ECR will hand out, and pushes a small image to it.
func (n *node) startRegistry() error {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	n.ecr.SetPassword(token)
	dir := filepath.Join(n.work, "registry")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var err error
	if n.reg, err = registry.Start(dir, []string{host}, token); err != nil {
		return err
	}
	if err := os.Chmod(n.reg.CAFile, 0o644); err != nil {
		return err
	}
	_, err = n.reg.PushImage(host+":"+n.reg.Port+"/"+imageRef, token)
	return err
}

func (n *node) close() {
	if n.reg != nil {
		n.reg.Close()
	}
	if n.ecr != nil {
		n.ecr.Close()
	}
	if n.imds != nil {
		n.imds.Close()
	}
	if n.files != nil {
		n.files.Close()
	}
	if n.stopBus != nil {
		n.stopBus()
	}
}
