package slurm

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Slurm is a real munged, slurmctld and slurmd on 127.0.0.1, with their
// own munge key, socket, ports and spool, so tests can drain and resume a
// node with the real scontrol. Env points Slurm commands at it.
type Slurm struct {
	Dir  string
	Conf string // slurm.conf, for SLURM_CONF
	Node string // the node's NodeName
	Env  []string

	opts  Options
	procs []*exec.Cmd
}

// Options are what the real chain needs beyond the default cluster.
type Options struct {
	// PlugStack becomes slurm.conf's PlugStackConfig (empty: Slurm's
	// default, plugstack.conf beside slurm.conf).
	PlugStack string
	// Env is added to the daemons' environment, e.g. a PATH that reaches
	// /usr/bin/enroot for the Pyxis that slurmstepd loads.
	Env []string
	// Share is how many jobs may run on the node at once (the partition's
	// OverSubscribe=FORCE:Share); 0 or 1: one at a time.
	Share int
}

// Start writes the config and starts munged, slurmctld and slurmd for a
// one-node cluster whose node is called node; Close stops them. It fails
// when Slurm or munge is missing. WaitNode waits until the node is up.
func Start(node string) (*Slurm, error) { return StartWith(node, Options{}) }

// StartWith is Start with options. The directory is traversable by
// every user, so a non-root user's srun reaches slurm.conf and munge's socket.
func StartWith(node string, opts Options) (*Slurm, error) {
	for tool, pkg := range map[string]string{"munged": "munge", "slurmctld": "slurmctld (slurm-wlm)", "slurmd": "slurmd (slurm-wlm)", "scontrol": "slurm-client (slurm-wlm)"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s not found: install the Debian package %s (scripts/test-deps.sh)", tool, pkg)
		}
	}
	// A short path: the munge socket must fit in sun_path.
	dir, err := os.MkdirTemp("", "slurm-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	s := &Slurm{Dir: dir, Conf: filepath.Join(dir, "slurm.conf"), Node: node, opts: opts}
	s.Env = []string{"SLURM_CONF=" + s.Conf}
	if err := s.start(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Slurm) start() error {
	munge := filepath.Join(s.Dir, "munge")
	for _, d := range []string{munge, filepath.Join(s.Dir, "state"), filepath.Join(s.Dir, "spool")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	key := make([]byte, 1024)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(munge, "munge.key"), key, 0o400); err != nil {
		return err
	}
	sock := filepath.Join(munge, "munge.socket")
	if err := s.run("munged", "--foreground", "--force", "--key-file="+filepath.Join(munge, "munge.key"),
		"--socket="+sock, "--pid-file="+filepath.Join(munge, "munged.pid"), "--log-file="+filepath.Join(munge, "munged.log"),
		"--seed-file="+filepath.Join(munge, "munged.seed")); err != nil {
		return err
	}
	if err := waitSocket(sock, 10*time.Second); err != nil {
		return fmt.Errorf("munged: %w\n%s", err, s.Logs())
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	conf := s.conf(sock, ports)
	if s.opts.PlugStack != "" {
		conf += "PlugStackConfig=" + s.opts.PlugStack + "\n"
	}
	if err := os.WriteFile(s.Conf, []byte(conf), 0o644); err != nil {
		return err
	}
	if err := s.run("slurmctld", "-D", "-c", "-i", "-f", s.Conf); err != nil {
		return err
	}
	return s.run("slurmd", "-D", "-N", s.Node, "-f", s.Conf)
}
