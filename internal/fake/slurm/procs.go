package slurm

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
)

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
	var last string
	if fake.Eventually(timeout, func() bool {
		out, err := s.Scontrol("show", "node", s.Node)
		last = out
		return err == nil && strings.Contains(out, "State=IDLE")
	}) {
		return nil
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

// waitSocket waits until a server accepts connections on the unix socket
// path: the file exists from bind(2), a moment before listen(2).
func waitSocket(path string, timeout time.Duration) error {
	if fake.Eventually(timeout, func() bool {
		c, err := net.Dial("unix", path)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		return nil
	}
	return fmt.Errorf("nothing accepts connections on %s within %s", path, timeout)
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
