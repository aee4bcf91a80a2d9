package accel

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/fake/host"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// What probeScript prints in a container on a node with 4 EFA adapters,
// between enroot's own lines.
const seenEFA = `[INFO] some enroot line
dev /dev/infiniband/uverbs0
dev /dev/infiniband/uverbs1
dev /dev/infiniband/uverbs2
dev /dev/infiniband/uverbs3
end
`

// literal is a Starter that prints out, recording that it was asked.
func literal(out string, err error, started *int) Starter {
	return func(context.Context, ProbeRequest) (string, error) {
		*started++
		return out, err
	}
}

func TestContainerCheckOnEFANode(t *testing.T) {
	root := t.TempDir()
	if err := host.FakeEFA(root, 4); err != nil {
		t.Fatal(err)
	}
	started := 0
	check := func(out string, err error) verify.Result {
		return ContainerCheck(config.Root(root), literal(out, err, &started), nil).Run(context.Background())
	}
	if r := check(seenEFA, nil); r.Status != verify.OK || r.Message != "a container sees the node's 4 EFA devices" {
		t.Fatalf("all seen: %+v", r)
	}
	// ENROOT_RESTRICT_DEV yes: the container's /dev is a tmpfs without them.
	put(t, filepath.Join(root, "etc/enroot/enroot.conf"), "ENROOT_CONFIG_PATH /run/x\nENROOT_RESTRICT_DEV yes\n", 0o644)
	r := check("dev /dev/infiniband/uverbs1\nend\n", nil)
	if r.Status != verify.Fail || !strings.Contains(r.Message, "does not see 3 of the node's 4 EFA devices (/dev/infiniband/uverbs0, /dev/infiniband/uverbs2, /dev/infiniband/uverbs3)") ||
		!strings.Contains(r.Message, "(enroot.conf has ENROOT_RESTRICT_DEV yes)") {
		t.Fatalf("restricted /dev: %+v", r)
	}
	if r := check("[ERROR] /etc/enroot/hooks.d/10-devices.sh exited with return code 1\n", errors.New("exit status 1")); r.Status != verify.Fail || !strings.Contains(r.Message, "does not start") {
		t.Fatalf("enroot fails: %+v", r)
	}
	if r := check("dev /dev/infiniband/uverbs0\n", nil); r.Status != verify.Fail || !strings.Contains(r.Message, "before its end") {
		t.Fatalf("cut short: %+v", r)
	}
	if started != 4 {
		t.Fatalf("%d containers for 4 checks", started)
	}
}

// Without EFA or GPUs nothing changes: no container is started.
func TestContainerCheckStartsNothingWithoutDevices(t *testing.T) {
	started := 0
	root := t.TempDir()
	if err := host.FakeVerbs(root, "uverbs0", "0000:a0:00.0", "mlx5_core"); err != nil {
		t.Fatal(err)
	}
	r := ContainerCheck(config.Root(root), literal("", errors.New("must not run"), &started), nil).Run(context.Background())
	if r.Status != verify.OK || started != 0 {
		t.Fatalf("%+v, %d containers", r, started)
	}
}

func TestParseSeen(t *testing.T) {
	out := "dev /dev/nvidia0\ndriver NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 2024\ndriver GCC version: 12\n" +
		"lib /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.15\nsmi-exit 0\nsmi GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)\nsmi \nend\n"
	s := ParseSeen(out)
	if !s.Complete || s.Driver != "550.54.15" || s.SMIExit != 0 || len(s.SMI) != 1 || len(s.Libs) != 1 || len(s.Devices) != 1 {
		t.Fatalf("%+v", s)
	}
	if s := ParseSeen("end\n"); s.SMIExit != -1 || s.Driver != "" {
		t.Fatalf("no GPU: %+v", s)
	}
}

// The probe container's shell is the host's, with what its loader needs:
// copied into an empty directory, it runs there (chroot, as root).
func TestClosureRunsInAnEmptyRoot(t *testing.T) {
	files, err := Closure(config.Root("/"), "/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(files, " ")
	if files[0] != "/bin/sh" || !strings.Contains(joined, "ld-linux") || !strings.Contains(joined, "/libc.so.6") {
		t.Fatalf("closure of /bin/sh: %q", files)
	}
	if os.Geteuid() != 0 {
		t.Fatal("this test chroots: run it as root (make test does)")
	}
	dir := t.TempDir()
	if err := copyInto(config.Root("/"), dir, files); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("chroot", dir, "/bin/sh", "-c", "echo $((6*7))").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "42" {
		t.Fatalf("the copied shell in %s: %v: %s", dir, err, out)
	}
	if _, err := Closure(config.Root("/"), "/etc/hostname"); err == nil {
		t.Fatal("a file that is not ELF has a closure")
	}
}
