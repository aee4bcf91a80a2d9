package testenv

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
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

	opts  SlurmOptions
	procs []*exec.Cmd
}

// SlurmOptions are what the real chain needs beyond the default cluster.
type SlurmOptions struct {
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

// StartSlurm starts the three daemons and waits until the node is up; they
// are stopped at cleanup. It fails (never skips) when Slurm or munge is
// missing.
func StartSlurm(t testing.TB) *Slurm {
	t.Helper()
	s, err := NewSlurm("ea-node1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.WaitNode(60 * time.Second); err != nil {
		t.Fatalf("%v\n%s", err, s.Logs())
	}
	return s
}

// NewSlurm writes the config and starts munged, slurmctld and slurmd for a
// one-node cluster whose node is called node.
func NewSlurm(node string) (*Slurm, error) { return NewSlurmWith(node, SlurmOptions{}) }

// NewSlurmWith is NewSlurm with options. The directory is traversable by
// every user, so a non-root user's srun reaches slurm.conf and munge's socket.
func NewSlurmWith(node string, opts SlurmOptions) (*Slurm, error) {
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
	if err := waitFile(sock, 10*time.Second); err != nil {
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

// conf is a minimal one-node cluster (see FACTS.md: linuxproc proctrack and
// no task plugin, so no cgroups are needed).
func (s *Slurm) conf(sock string, ports []int) string {
	share := ""
	if s.opts.Share > 1 {
		share = fmt.Sprintf(" OverSubscribe=FORCE:%d", s.opts.Share)
	}
	d := s.Dir
	return fmt.Sprintf(`ClusterName=enroot-agent-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=%d
SlurmdPort=%d
AuthType=auth/munge
AuthInfo=socket=%s
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=%s/state
SlurmdSpoolDir=%s/spool
SlurmctldPidFile=%s/slurmctld.pid
SlurmdPidFile=%s/slurmd.pid
SlurmctldLogFile=%s/slurmctld.log
SlurmdLogFile=%s/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
NodeName=%s NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=1 State=UNKNOWN
PartitionName=debug Nodes=%s Default=YES MaxTime=INFINITE State=UP%s
`, ports[0], ports[1], sock, d, d, d, d, d, d, s.Node, s.Node, share)
}

func (s *Slurm) run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Env = append(append(os.Environ(), s.Env...), s.opts.Env...)
	// A test process killed on timeout must not leave daemons behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := os.Create(filepath.Join(s.Dir, name+".out"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	s.procs = append(s.procs, cmd)
	return nil
}

// Scontrol runs scontrol against this cluster.
func (s *Slurm) Scontrol(args ...string) (string, error) {
	cmd := exec.Command("scontrol", args...)
	cmd.Env = append(os.Environ(), s.Env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("scontrol %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// WaitNode waits until slurmctld has heard from slurmd and the node is up.
func (s *Slurm) WaitNode(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		out, err := s.Scontrol("show", "node", s.Node)
		last = out
		if err == nil && strings.Contains(out, "State=IDLE") {
			return nil
		}
		time.Sleep(300 * time.Millisecond)
	}
	return fmt.Errorf("node %s not idle within %s; last: %s", s.Node, timeout, last)
}

// Logs is every daemon's log, for a failing test's report.
func (s *Slurm) Logs() string {
	var b strings.Builder
	for _, f := range []string{"munge/munged.log", "munged.out", "slurmctld.log", "slurmctld.out", "slurmd.log", "slurmd.out"} {
		data, _ := os.ReadFile(filepath.Join(s.Dir, f))
		fmt.Fprintf(&b, "== %s\n%s", f, data)
	}
	return b.String()
}

// Close stops the daemons (slurmd first) and removes the directory.
func (s *Slurm) Close() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		_ = p.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
	_ = os.RemoveAll(s.Dir)
}

func waitFile(path string, timeout time.Duration) error {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%s did not appear within %s", path, timeout)
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
