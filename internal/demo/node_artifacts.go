package main

import (
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// serveArtifacts builds Enroot .deb packages named like NVIDIA's release
// assets and a Pyxis-like tarball, and serves them over HTTP.
func (n *node) serveArtifacts() error {
	dir := filepath.Join(n.work, "artifacts")
	debs, err := pkgrepo.BuildEnrootDebs(filepath.Join(n.work, "debs"), config.Default().Enroot.Version)
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
	_, pyxisSum, err := pkgrepo.PyxisTarball(dir, config.Default().Pyxis.Version)
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
