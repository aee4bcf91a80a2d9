// Package rendezvous holds the proof that a multi-node job's ranks meet in
// their containers through Enroot's Slurm hooks, as the agent installs
// them, on this machine's real chain: the real agent, Enroot, Pyxis, Slurm
// daemons and registry, and a non-root user's srun -N1 -n2. The two tasks
// rendezvous over TCP with only the variables the hooks and Pyxis give
// them; the cluster test bed runs the same image (rendezvous.Push of
// internal/fake/rendezvous) with srun -N2.
package rendezvous

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake/host"
	"github.com/enroot-agent/enroot-agent/internal/fake/rendezvous"
	"github.com/enroot-agent/enroot-agent/internal/realchain"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/accel"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"golang.org/x/sys/unix"
)

const hooksOff = "  hooks: {50-slurm-pmi.sh: false, 50-slurm-pytorch.sh: false}\n"

func TestRanksMeetThroughEnrootsHooks(t *testing.T) {
	c, err := realchain.Start(testenv.Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("the host is not restored: %v", err)
		}
	})
	// The PyTorch hook hands the step's first node to the ranks as
	// MASTER_ADDR: a name that resolves here.
	c.Node = "localhost"
	base, err := os.ReadFile(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, c, string(base))
	for _, h := range []string{"50-slurm-pmi.sh", "50-slurm-pytorch.sh"} {
		data, err := os.ReadFile(filepath.Join(accel.HooksDir, h))
		if err != nil || !strings.Contains(string(data), "# enroot-agent: copied from /usr/share/enroot/hooks.d/"+h) {
			t.Fatalf("%s after apply: %v", h, err)
		}
	}
	ref := c.Host + ":" + c.Registry.Port + "/ml/rendezvous:v1"
	if _, err := rendezvous.Push(c.Registry, ref, c.Token()); err != nil {
		t.Fatal(err)
	}
	if err := c.StartSlurm(); err != nil {
		t.Fatal(err)
	}
	if err := c.AddUser(); err != nil {
		t.Fatal(err)
	}
	// What verify says of it, on the real root: the hooks, the real
	// slurmd's PATH (its /proc/<pid>/environ), no device to compare.
	for name, want := range map[string]string{
		"enroot-hooks":      "enroot runs 50-slurm-pmi.sh, 50-slurm-pytorch.sh from /etc/enroot/hooks.d",
		"slurmd-path":       "has /usr/bin on its PATH: Enroot's Slurm hooks find scontrol",
		"container-devices": "no EFA adapter and no NVIDIA GPU here",
	} {
		if status, msg := check(t, c, name); status != "ok" || !strings.Contains(msg, want) {
			t.Errorf("verify %s: %s %s, want ok %q", name, status, msg, want)
		}
	}
	image := c.Host + "#ml/rendezvous:v1"
	out, errOut, err := srun(t, c, image)
	if err != nil {
		t.Fatalf("as %s, %s: %v\nstdout: %s\nstderr: %s\n%s", c.User, strings.Join(rendezvous.Args(image, 1, 2), " "),
			err, out, errOut, c.Redact(c.Slurm.Logs()))
	}
	if err := rendezvous.Check(out, 2); err != nil {
		t.Fatalf("%v\nstderr: %s", err, errOut)
	}
	t.Logf("with the hooks:\n%s", out)

	efaThroughRealEnroot(t, c, string(base))

	// The same job without the hooks: no MASTER_ADDR, no rendezvous.
	apply(t, c, strings.Replace(string(base), "enroot:\n", "enroot:\n"+hooksOff, 1))
	if _, err := os.Stat(filepath.Join(accel.HooksDir, "50-slurm-pytorch.sh")); !os.IsNotExist(err) {
		t.Fatalf("the PyTorch hook is still there with the hooks off: %v", err)
	}
	out, errOut, err = srun(t, c, image)
	if err == nil || rendezvous.Check(out, 2) == nil || !strings.Contains(errOut, "MASTER_ADDR, MASTER_PORT, WORLD_SIZE not set") {
		t.Fatalf("without the hooks the ranks must fail to meet: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	t.Logf("without the hooks:\n%s", errOut)
}

// efaThroughRealEnroot runs the container-devices check with the real
// prober (the real enroot, enroot.conf and hooks, as nobody) against a
// stand-in EFA device: a real character device under /dev/infiniband, and
// a fake sysfs saying its driver is efa. The container sees it through
// enroot's /dev; with ENROOT_RESTRICT_DEV on, it does not, and the check
// fails.
func efaThroughRealEnroot(t *testing.T, c *realchain.Chain, base string) {
	t.Helper()
	// Enroot's restricted /dev binds /dev/mqueue and /dev/log, which
	// systemd makes on a node; without systemd here, an empty directory and
	// a datagram socket that drops what it gets stand in for them (removed
	// after the check, and by realchain.Guard, like /dev/infiniband).
	for _, d := range []string{"/dev/infiniband", "/dev/mqueue"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Lstat("/dev/log"); os.IsNotExist(err) {
		devLog, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "/dev/log", Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		defer os.Remove("/dev/log") // a datagram socket is not unlinked by Close
		defer devLog.Close()
		go func() {
			buf := make([]byte, 4096)
			for {
				if _, _, err := devLog.ReadFrom(buf); err != nil {
					return
				}
			}
		}()
	}
	// uverbs devices are char 231:192 and up (infiniband_verbs).
	if err := unix.Mknod("/dev/infiniband/uverbs0", unix.S_IFCHR|0o666, int(unix.Mkdev(231, 192))); err != nil {
		t.Fatal(err)
	}
	efa := t.TempDir()
	if err := host.FakeEFA(efa, 1); err != nil {
		t.Fatal(err)
	}
	probe := &accel.Prober{Root: "/", User: config.Default().Verify.ContainerUser}
	check := accel.ContainerCheck(config.Root(efa), probe.Start, nil)
	run := func() verify.Result {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return check.Run(ctx)
	}
	if r := run(); r.Status != verify.OK || r.Message != "a container sees the node's 1 EFA devices" {
		t.Fatalf("container-devices through the real enroot: %+v", r)
	}
	apply(t, c, strings.Replace(base, "  conf:\n", "  conf:\n    ENROOT_RESTRICT_DEV: \"yes\"\n", 1))
	if r := run(); r.Status != verify.Fail || !strings.Contains(r.Message, "does not see 1 of the node's 1 EFA devices (/dev/infiniband/uverbs0)") {
		t.Fatalf("container-devices with a restricted /dev: %+v", r)
	}
	apply(t, c, base)
}

// check runs the agent's verify on the real root and returns one check.
func check(t *testing.T, c *realchain.Chain, name string) (status, message string) {
	t.Helper()
	out, errOut, _ := c.Agent("verify", "--local", "--json")
	var rep struct {
		Checks []struct{ Name, Status, Message string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("verify --json: %v\n%s\n%s", err, out, errOut)
	}
	for _, r := range rep.Checks {
		if r.Name == name {
			return r.Status, r.Message
		}
	}
	t.Fatalf("verify has no check %s:\n%s", name, out)
	return "", ""
}

// apply writes the chain's config and runs the agent's apply.
func apply(t *testing.T, c *realchain.Chain, cfg string) {
	t.Helper()
	if err := os.WriteFile(c.Config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := c.Agent("apply")
	if code != 0 {
		t.Fatalf("apply on the real root: exit %d\n%s%s", code, out, errOut)
	}
}

// srun runs the rendezvous job as the chain's user: one node, two tasks.
func srun(t *testing.T, c *realchain.Chain, image string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := c.UserCmd(ctx, c.User, rendezvous.Args(image, 1, 2))
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), c.Redact(errOut.String()), err
}
