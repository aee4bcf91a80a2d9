package accel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

const driverText = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n"

// smiL is `nvidia-smi -L` on a p5.48xlarge.
var smiL = func() string {
	var b strings.Builder
	for i := 0; i < 8; i++ {
		fmt.Fprintf(&b, "GPU %d: NVIDIA H100 80GB HBM3 (UUID: GPU-%08x-1c2d-3e4f-5a6b-7c8d9e0f1a2b)\n", i, i)
	}
	return b.String()
}()

// p5Root is a fake p5 root: 8 GPUs, the driver, nvidia-smi and
// nvidia-container-cli (only their names matter: the runner answers).
func p5Root(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, n := range []string{"nvidiactl", "nvidia-uvm", "nvidia0", "nvidia1", "nvidia2", "nvidia3", "nvidia4", "nvidia5", "nvidia6", "nvidia7"} {
		put(t, filepath.Join(root, "dev", n), "", 0o666)
	}
	put(t, filepath.Join(root, "proc/driver/nvidia/version"), driverText, 0o444)
	put(t, filepath.Join(root, "usr/bin/nvidia-smi"), "", 0o755)
	put(t, filepath.Join(root, "usr/bin/nvidia-container-cli"), "", 0o755)
	return root
}

// answers is a Runner that prints out for each command by its base name.
func answers(t *testing.T, out map[string]string) Runner {
	return func(_ context.Context, name string, args ...string) ([]byte, error) {
		cmd := filepath.Base(name) + " " + strings.Join(args, " ")
		o, ok := out[cmd]
		if !ok {
			t.Errorf("unexpected command %s", cmd)
			return nil, errors.New("unexpected")
		}
		return []byte(o), nil
	}
}

func TestToolkitCheck(t *testing.T) {
	root := p5Root(t)
	cliOut := func(v string) string {
		return "cli-version: " + v + "\nlib-version: " + v + "\nbuild date: 2025-05-30T13:47+00:00\nbuild platform: x86_64\n"
	}
	for v, want := range map[string]verify.Status{"1.17.7": verify.Fail, "1.17.8": verify.OK, "1.14.0": verify.OK} {
		r := toolkitResult(context.Background(), config.Root(root), answers(t, map[string]string{"nvidia-container-cli --version": cliOut(v)}))
		if r.Status != want || !strings.Contains(r.Message, v) {
			t.Errorf("%s: %+v", v, r)
		}
		if want == verify.Fail && (!strings.Contains(r.Message, "enroot #232") || !strings.Contains(r.Fix, "hold")) {
			t.Errorf("%s: says not why or how: %+v", v, r)
		}
	}
	if err := os.Remove(filepath.Join(root, "usr/bin/nvidia-container-cli")); err != nil {
		t.Fatal(err)
	}
	if r := toolkitResult(context.Background(), config.Root(root), answers(t, nil)); r.Status != verify.Fail || !strings.Contains(r.Message, "no nvidia-container-cli") || !strings.Contains(r.Fix, "libnvidia-container-tools") {
		t.Fatalf("no cli: %+v", r)
	}
	if r := toolkitResult(context.Background(), config.Root(t.TempDir()), answers(t, nil)); r.Status != verify.OK || r.Message != "no NVIDIA GPU here" {
		t.Fatalf("no GPU: %+v", r)
	}
}

func TestParseCLIVersion(t *testing.T) {
	if cli, lib := ParseCLIVersion("cli-version: 1.14.0\nlib-version: 1.14.1\nbuild revision: 6a24508\n"); cli != "1.14.0" || lib != "1.14.1" {
		t.Fatal(cli, lib)
	}
	for _, b := range BrokenToolkit {
		if strings.Count(b.Version, ".") != 2 || b.Why == "" {
			t.Errorf("BrokenToolkit: %q is not a release as --version prints it, or says no why", b.Version)
		}
	}
}

func TestSocketsCheck(t *testing.T) {
	root := p5Root(t)
	check := func() verify.Result { return socketsResult(context.Background(), config.Root(root)) }
	if r := check(); r.Status != verify.OK || !strings.Contains(r.Message, "neither") {
		t.Fatalf("no daemons: %+v", r)
	}
	// enroot #231: Fabric Manager's runtime directory, root only.
	fm := filepath.Join(root, "var/run/nvidia-fabricmanager")
	if err := os.MkdirAll(filepath.Dir(fm), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(fm, 0o700); err != nil {
		t.Fatal(err)
	}
	if r := check(); r.Status != verify.Fail || !strings.Contains(r.Message, "/var/run/nvidia-fabricmanager is mode 0700") ||
		!strings.Contains(r.Message, "cannot reach /var/run/nvidia-fabricmanager/socket") || !strings.Contains(r.Fix, "RuntimeDirectoryMode=0755") {
		t.Fatalf("fabric manager's dir: %+v", r)
	}
	if err := os.Chmod(fm, 0o755); err != nil {
		t.Fatal(err)
	}
	ps := filepath.Join(root, "var/run/nvidia-persistenced")
	if err := os.MkdirAll(ps, 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(ps, "socket"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for mode, want := range map[os.FileMode]verify.Status{0o600: verify.Fail, 0o777: verify.OK} {
		if err := os.Chmod(filepath.Join(ps, "socket"), mode); err != nil {
			t.Fatal(err)
		}
		if r := check(); r.Status != want || !strings.Contains(r.Message, "/var/run/nvidia-persistenced/socket") {
			t.Errorf("persistenced socket %04o: %+v", mode, r)
		}
	}
}

// What probeScript prints in a good GPU container on the p5: every GPU's
// node, the driver's libraries, and nvidia-smi's list.
func seenGPU(smi string, exit int) string {
	var b strings.Builder
	for i := 0; i < 8; i++ {
		fmt.Fprintf(&b, "dev /dev/nvidia%d\n", i)
	}
	b.WriteString("dev /dev/nvidiactl\ndev /dev/nvidia-uvm\n")
	for _, l := range strings.Split(strings.TrimSpace(driverText), "\n") {
		b.WriteString("driver " + l + "\n")
	}
	b.WriteString("lib /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.15\nlib /usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15\n")
	fmt.Fprintf(&b, "smi-exit %d\n", exit)
	for _, l := range strings.Split(strings.TrimSpace(smi), "\n") {
		b.WriteString("smi " + l + "\n")
	}
	return b.String() + "end\n"
}

func TestContainerCheckOnGPUNode(t *testing.T) {
	root := p5Root(t)
	run := answers(t, map[string]string{"nvidia-smi -L": smiL})
	var asked ProbeRequest
	check := func(out string) verify.Result {
		start := func(_ context.Context, req ProbeRequest) (string, error) { asked = req; return out, nil }
		return containerResult(context.Background(), config.Root(root), start, run)
	}
	r := check(seenGPU(smiL, 0))
	if r.Status != verify.OK || r.Message != "a container sees its 8 GPUs (driver 550.54.15; nvidia-smi -L lists the same 8 inside)" {
		t.Fatalf("good container: %+v", r)
	}
	if asked.SMI != "/usr/bin/nvidia-smi" || !slices.Contains(asked.Env, "NVIDIA_VISIBLE_DEVICES=all") {
		t.Fatalf("the probe did not ask for the GPUs: %+v", asked)
	}
	sixGPUs := strings.Join(strings.SplitAfter(smiL, "\n")[:6], "")
	for name, tc := range map[string]struct{ out, want string }{
		"a GPU short":          {strings.Replace(seenGPU(smiL, 0), "dev /dev/nvidia7\n", "", 1), "does not see 1 of the node's 8 GPUs (/dev/nvidia7)"},
		"an older library":     {strings.ReplaceAll(seenGPU(smiL, 0), "550.54.15\n", "535.161.08\n"), "brought no library of the host's driver 550.54.15"},
		"no hook libraries":    {strings.ReplaceAll(seenGPU(smiL, 0), "lib /usr", "x /usr"), "(it has: none)"},
		"nvidia-smi fails":     {seenGPU("Failed to initialize NVML: Driver/library version mismatch", 18), "nvidia-smi -L exits 18 in the container: Failed to initialize NVML"},
		"nvidia-smi lists 6":   {seenGPU(sixGPUs, 0), "lists 6 GPUs in the container and 8 on the host (missing: GPU-00000006-1c2d-3e4f-5a6b-7c8d9e0f1a2b, GPU-00000007"},
		"no nvidia-smi inside": {strings.Replace(seenGPU(smiL, 0), "smi-exit 0\n", "", 1), "mounted no nvidia-smi"},
	} {
		if name == "no nvidia-smi inside" {
			tc.out = strings.Join(slices.DeleteFunc(strings.Split(tc.out, "\n"), func(l string) bool { return strings.HasPrefix(l, "smi ") }), "\n")
		}
		if r := check(tc.out); r.Status != verify.Fail || !strings.Contains(r.Message, tc.want) {
			t.Errorf("%s: %+v\nwant %q", name, r, tc.want)
		}
	}
	// Without nvidia-smi on the host: device nodes and the driver's version.
	if err := os.Remove(filepath.Join(root, "usr/bin/nvidia-smi")); err != nil {
		t.Fatal(err)
	}
	if r := check(strings.Replace(seenGPU("", 0), "smi-exit 0\n", "", 1)); r.Status != verify.OK || r.Message != "a container sees its 8 GPUs (driver 550.54.15)" || asked.SMI != "" {
		t.Fatalf("no nvidia-smi: %+v, asked %+v", r, asked)
	}
}

func TestSMIList(t *testing.T) {
	out := "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-5d5ba0d6)\n  MIG 3g.20gb     Device  0: (UUID: MIG-c6d4f1ef)\n  MIG 3g.20gb     Device  1: (UUID: MIG-3d1a8a1f)\nGPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-0b0ae6e3)\n"
	ids := GPUIDs(SMIList(out))
	if strings.Join(ids, " ") != "GPU-5d5ba0d6 MIG-c6d4f1ef MIG-3d1a8a1f GPU-0b0ae6e3" {
		t.Fatalf("%q", ids)
	}
	if l := SMIList("No devices were found\n"); l == nil || len(l) != 0 {
		t.Fatalf("%q", l)
	}
}
