package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Node is one machine of the cluster: a systemd-nspawn container booting a
// real systemd as PID 1 from its own copy of the node rootfs, sharing the
// host's network (so every daemon listens on a port of its own on
// 127.0.0.1) and its kernel.
type Node struct {
	Name    string // host name and Slurm NodeName
	Root    string // its root directory, as the host sees it
	Compute bool   // runs slurmd; the head node runs slurmctld
	// SlurmdPort is the node's slurmd port (compute nodes); AgentPort the
	// agent's verify.listen port.
	SlurmdPort, AgentPort int

	binds   []bind
	cgname  string
	cgroups []string
	cmd     *exec.Cmd // systemd-nspawn
	exited  chan struct{}
	pid     int // the node's PID 1, as the host numbers it
	console string
	mounted bool // Root is an overlay mounted by the cluster
}

// bind is a host directory mounted into the node.
type bind struct {
	src, dst string
	ro       bool
}

func (b bind) arg() string {
	if b.ro {
		return "--bind-ro=" + b.src + ":" + b.dst
	}
	return "--bind=" + b.src + ":" + b.dst
}

// nodePath is the PATH of every command run in a node: Slurm's bin first,
// as ParallelCluster's /etc/profile.d puts it.
const nodePath = "/opt/slurm/bin:/opt/slurm/sbin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// boot starts the node and waits until its systemd reports the system
// running (every unit of the default target started).
func (n *Node) boot(ctx context.Context) error {
	if _, err := exec.LookPath("systemd-nspawn"); err != nil {
		return errors.New("systemd-nspawn not found: install the Debian package systemd-container (scripts/test-deps.sh)")
	}
	dirs, err := makeCgroups(n.cgname)
	if err != nil {
		return err
	}
	n.cgroups = dirs
	args := []string{"-b", "-D", n.Root, "-M", n.Name, "--register=no", "--keep-unit", "--console=read-only"}
	for _, b := range n.binds {
		args = append(args, b.arg())
	}
	// The shell moves itself into the node's own cgroups, then becomes
	// systemd-nspawn: nspawn sets the node's systemd up below them.
	script := `for d in "$@"; do [ "$d" = -- ] && break; echo $$ > "$d/cgroup.procs" || exit 1; shift; done; shift; exec systemd-nspawn "$@"`
	shArgs := append(append([]string{"-c", script, "sh"}, dirs...), "--")
	console, err := os.Create(n.console)
	if err != nil {
		return err
	}
	defer console.Close()
	n.cmd = exec.Command("/bin/sh", append(shArgs, args...)...)
	n.cmd.Stdout, n.cmd.Stderr = console, console
	n.cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "SYSTEMD_LOG_LEVEL=warning"}
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := n.cmd.Start(); err != nil {
		return fmt.Errorf("start node %s: %w", n.Name, err)
	}
	n.exited = make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(n.exited) }()
	if err := n.findInit(); err != nil {
		return err
	}
	return n.waitRunning(ctx)
}

// findInit finds the node's systemd: the child of systemd-nspawn.
func (n *Node) findInit() error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-n.exited:
			return fmt.Errorf("node %s: systemd-nspawn exited at start:\n%s", n.Name, n.Console())
		default:
		}
		for _, pid := range children(n.cmd.Process.Pid) {
			if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); strings.TrimSpace(string(comm)) == "systemd" {
				n.pid = pid
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("node %s: no systemd under systemd-nspawn after 60s:\n%s", n.Name, n.Console())
}

func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	for _, t := range tasks {
		data, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(data)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// waitRunning waits for `systemctl is-system-running` to say running; a
// degraded system is an error naming the failed units.
func (n *Node) waitRunning(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		out, _ := n.Output(ctx, "systemctl", "is-system-running", "--wait")
		state := strings.TrimSpace(out)
		switch {
		case state == "running":
			return nil
		case state == "degraded":
			failed, _ := n.Output(ctx, "systemctl", "--failed", "--no-pager", "--no-legend")
			log, _ := n.Output(ctx, "journalctl", "--no-pager", "-b", "-n", "30", "-p", "warning")
			return fmt.Errorf("node %s booted degraded; failed units:\n%s\nits journal's warnings end:\n%s", n.Name, failed, log)
		case ctx.Err() != nil:
			return fmt.Errorf("node %s did not finish booting (systemctl is-system-running: %q):\n%s", n.Name, state, n.Console())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Command runs args as root inside the node (all its namespaces), with a
// clean environment.
func (n *Node) Command(ctx context.Context, args ...string) *exec.Cmd {
	all := append([]string{"-t", strconv.Itoa(n.pid), "-a", "--", "/usr/bin/env", "-i",
		"PATH=" + nodePath, "HOME=/root", "LANG=C.UTF-8", "TERM=dumb"}, args...)
	return exec.CommandContext(ctx, "nsenter", all...)
}

// UserCommand runs args inside the node as user, in their home, with the
// environment a login gives them.
func (n *Node) UserCommand(ctx context.Context, user string, args ...string) *exec.Cmd {
	home := "/home/" + user
	all := append([]string{"-t", strconv.Itoa(n.pid), "-a", "--", "/usr/sbin/runuser", "-u", user, "--",
		"/usr/bin/env", "-i", "-C", home, "PATH=" + nodePath, "HOME=" + home, "USER=" + user, "LOGNAME=" + user,
		"LANG=C.UTF-8", "TERM=dumb"}, args...)
	return exec.CommandContext(ctx, "nsenter", all...)
}

// Output runs args as root in the node and returns stdout; the error
// carries stderr.
func (n *Node) Output(ctx context.Context, args ...string) (string, error) {
	return n.output(n.Command(ctx, args...), args)
}

// UserOutput is Output as user.
func (n *Node) UserOutput(ctx context.Context, user string, args ...string) (string, error) {
	return n.output(n.UserCommand(ctx, user, args...), args)
}

func (n *Node) output(cmd *exec.Cmd, args []string) (string, error) {
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("on %s, %s: %w\n%s", n.Name, strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// PID is the node's PID 1 as the host numbers it (for nsenter -t).
func (n *Node) PID() int { return n.pid }

// Console is what systemd-nspawn printed: the node's boot messages.
func (n *Node) Console() string {
	data, _ := os.ReadFile(n.console)
	if len(data) > 8000 {
		data = data[len(data)-8000:]
	}
	return string(data)
}

// Journal is the node's journal for unit (all of it when unit is ""),
// read inside the node.
func (n *Node) Journal(ctx context.Context, unit string) string {
	args := []string{"journalctl", "--no-pager", "-o", "short-precise", "-b"}
	if unit != "" {
		args = append(args, "-u", unit)
	}
	out, err := n.Output(ctx, args...)
	if err != nil {
		return out + err.Error()
	}
	return out
}

// stop powers the node off (systemd stops every unit), or kills it when it
// does not stop within 30 s, and removes its cgroups.
func (n *Node) stop() error {
	if n.cmd == nil {
		return errors.Join(removeCgroups(n.cgroups), n.unmountRoot())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_ = n.Command(ctx, "systemctl", "poweroff", "--no-block").Run()
	cancel()
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(n.pid, syscall.SIGKILL) // the node's PID 1: its whole PID namespace goes
		select {
		case <-n.exited:
		case <-time.After(10 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
	}
	n.cmd = nil
	return errors.Join(removeCgroups(n.cgroups), n.unmountRoot())
}

// HostPath is where the host sees path of the running node, mounts inside
// the node (its /run, /tmp) included: through its PID 1's root.
func (n *Node) HostPath(path string) string {
	return "/proc/" + strconv.Itoa(n.pid) + "/root" + path
}
