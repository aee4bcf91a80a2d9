package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// node is the sandbox and the stand-ins around it.
type node struct {
	bin, root, work, slurm, cfg, slurmConf, listen string
	env                                            []string
	imds                                           *testenv.IMDS
	ecr                                            *testenv.ECR
	reg                                            *testenv.Registry
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
	if n.imds, err = testenv.NewIMDS("123456789012", "us-east-1"); err != nil {
		return err
	}
	if n.ecr, err = testenv.NewECR(); err != nil {
		return err
	}
	n.ecr.AccessKey = n.imds.AccessKey
	n.env = append(testenv.CleanEnv(os.Environ()), testenv.AWSEnv(n.imds, n.ecr, n.work)...)
	return nil
}

// startBus stands in for systemd on a private, real dbus-daemon (this machine
// has no systemd PID 1), so the agent restarts "slurmd" over D-Bus exactly as
// on a node, and never this machine's own slurmd.
func (n *node) startBus() error {
	stub, stop, err := testenv.StartSystemdStub(n.work)
	if err != nil {
		return err
	}
	n.stopBus = stop
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
	if n.reg, err = testenv.NewRegistry(dir, []string{host}, token); err != nil {
		return err
	}
	if err := os.Chmod(n.reg.CAFile, 0o644); err != nil {
		return err
	}
	_, err = n.reg.PushImage(host+":"+n.reg.Port+"/"+imageRef, token)
	return err
}

// serveArtifacts builds Enroot .deb packages named like NVIDIA's release
// assets and a Pyxis-like tarball, and serves them over HTTP.
func (n *node) serveArtifacts() error {
	dir := filepath.Join(n.work, "artifacts")
	debs, err := testenv.BuildEnrootDebs(filepath.Join(n.work, "debs"), config.Default().Enroot.Version)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	sums := ""
	for name, path := range debs {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
		sums += fmt.Sprintf("%x  %s\n", sha256.Sum256(data), name)
	}
	// A SHA256SUMS file at the source pins the packages, as a mirror would.
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums), 0o644); err != nil {
		return err
	}
	_, pyxisSum, err := testenv.PyxisTarball(dir, config.Default().Pyxis.Version)
	if err != nil {
		return err
	}
	if n.files, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return err
	}
	go http.Serve(n.files, http.FileServer(http.Dir(dir)))
	return n.writeConfig("http://"+n.files.Addr().String()+"/", pyxisSum)
}

func (n *node) writeConfig(base, pyxisSum string) error {
	n.cfg = filepath.Join(n.root, "etc/enroot-agent/config.yaml")
	yaml := fmt.Sprintf(`# Where this node gets Enroot and Pyxis: a local mirror.
enroot:
  source: %[1]s
pyxis:
  source: %[1]spyxis-{version}.tar.gz
  sha256: %[2]s
  slurm_prefix: /usr   # Debian's Slurm
  # The shared Slurm directory (/opt/slurm on ParallelCluster): here a host
  # directory linked into the sandbox, so this machine's srun reads exactly
  # what the agent wrote.
  plugstack: %[5]s/etc/plugstack.conf
  libdir: %[5]s/lib/slurm
ecr:
  registries: [%[3]s]
verify:
  listen: %[4]s
`, base, pyxisSum, host, n.listen, n.slurm)
	if err := os.MkdirAll(filepath.Dir(n.cfg), 0o755); err != nil {
		return err
	}
	return os.WriteFile(n.cfg, []byte(yaml), 0o644)
}

// prepareRoot makes the sandbox look like an Ubuntu node with Slurm: a dpkg
// database with Enroot's prerequisites, and this machine's Slurm headers and
// srun under the sandbox's /usr.
func (n *node) prepareRoot() error {
	if err := testenv.MakeDebRoot(n.root); err != nil {
		return err
	}
	for link, target := range map[string]string{n.root + "/usr/include": "/usr/include", n.root + "/usr/bin/srun": "/usr/bin/srun"} {
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(target, link); err != nil {
			return err
		}
	}
	// A kernel that still has user namespaces switched off, as some AMIs do:
	// the agent's sysctl step turns them on.
	return writeAll(n.root+"/proc/sys/user", map[string]string{"max_user_namespaces": "0\n", "max_mnt_namespaces": "0\n"})
}

// prepareSlurm links the host's Slurm directory into the sandbox and writes
// a slurm.conf and a plugstack.conf with an admin's line the agent must keep.
func (n *node) prepareSlurm() error {
	for _, d := range []string{"etc", "lib"} {
		inRoot := filepath.Join(n.root, n.slurm, d)
		if err := os.MkdirAll(inRoot, 0o755); err != nil {
			return err
		}
		if err := os.Symlink(inRoot, filepath.Join(n.slurm, d)); err != nil {
			return err
		}
	}
	if err := writeAll(n.slurm+"/etc", map[string]string{"plugstack.conf": "# site SPANK plugins (an admin's line, kept by every apply)\n"}); err != nil {
		return err
	}
	var err error
	n.slurmConf, err = testenv.SlurmConf(n.slurm+"/etc", n.slurm+"/etc/plugstack.conf")
	return err
}

func writeAll(dir string, files map[string]string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			return err
		}
	}
	return nil
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
