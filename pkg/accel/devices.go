package accel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/lazyre"
	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// Devices is what this node has that a job's container must see too.
type Devices struct {
	// EFA lists the verbs device nodes of EFA adapters
	// (/dev/infiniband/uverbsN whose driver is efa), which NCCL's EFA
	// plugin opens through libfabric.
	EFA []string
	// GPUs lists the NVIDIA GPU device nodes (/dev/nvidiaN).
	GPUs []string
	// Driver is the loaded NVIDIA kernel module's version, "" without one.
	Driver string
	// SMI is `nvidia-smi -L` on the host, one GPU per entry; nil when the
	// node has no nvidia-smi. SMIErr says why it failed, when it did.
	SMI     []string
	SMIErr  string
	SMIPath string // host path of nvidia-smi
}

// GPU reports an NVIDIA GPU: device nodes, or a loaded driver.
func (d Devices) GPU() bool { return len(d.GPUs) > 0 || d.Driver != "" }

// None reports a node with nothing for a container to see: no EFA
// adapter and no NVIDIA GPU.
func (d Devices) None() bool { return len(d.EFA) == 0 && !d.GPU() }

func (d Devices) String() string {
	var parts []string
	if len(d.EFA) > 0 {
		parts = append(parts, fmt.Sprintf("the node's %d EFA devices", len(d.EFA)))
	}
	if d.GPU() {
		gpus := fmt.Sprintf("its %d GPUs (driver %s", len(d.GPUs), d.Driver)
		if d.SMI != nil {
			gpus += fmt.Sprintf("; nvidia-smi -L lists the same %d inside", len(d.SMI))
		}
		parts = append(parts, gpus+")")
	}
	return strings.Join(parts, " and ")
}

// DetectDevices reads what the node has that containers must see: EFA
// devices, GPU device nodes and the driver from root, and, with run, the
// host's `nvidia-smi -L` when there is an nvidia-smi.
func DetectDevices(ctx context.Context, root config.Root, run Runner) (Devices, error) {
	var d Devices
	var err error
	if d.EFA, err = EFADevices(root); err != nil {
		return d, err
	}
	if d.GPUs, d.Driver, err = NVIDIAGPUs(root); err != nil || !d.GPU() || run == nil {
		return d, err
	}
	smi := findProgram(root, "nvidia-smi")
	if smi == "" {
		return d, nil
	}
	d.SMIPath = smi
	out, err := run(ctx, root.Path(smi), "-L")
	if err != nil {
		d.SMIErr = fmt.Sprintf("%v: %s", err, lastLines(string(out), 3))
		return d, nil
	}
	d.SMI = SMIList(string(out))
	return d, nil
}

// SMIList is the GPU lines of `nvidia-smi -L` ("GPU 0: NVIDIA H100 80GB
// HBM3 (UUID: GPU-…)", and "  MIG 3g.40gb Device 0: (UUID: MIG-…)" under a
// GPU split by MIG); never nil, so a host with nvidia-smi and no GPU
// listed still compares.
func SMIList(out string) []string {
	list := []string{}
	for _, line := range strings.Split(out, "\n") {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "GPU ") || strings.HasPrefix(t, "MIG ") {
			list = append(list, t)
		}
	}
	return list
}

// uuid is what identifies a GPU or MIG device in an nvidia-smi -L line.
var uuid = lazyre.New(`\(UUID: ([^)]+)\)`)

// GPUIDs are the UUIDs of nvidia-smi -L lines, or the lines themselves
// where a line has none.
func GPUIDs(lines []string) []string {
	var ids []string
	for _, l := range lines {
		if m := uuid.FindStringSubmatch(l); m != nil {
			ids = append(ids, m[1])
		} else {
			ids = append(ids, l)
		}
	}
	return ids
}

// EFADevices lists the uverbs device nodes whose device is bound to the
// efa driver, read from root's /dev and /sys. Mellanox (mlx5) verbs
// devices are left out: Enroot's 99-mellanox.sh hook handles those.
func EFADevices(root config.Root) ([]string, error) {
	nodes, err := filepath.Glob(root.Path("/dev/infiniband/uverbs*"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range nodes {
		name := filepath.Base(n)
		// sysfs: class/infiniband_verbs/uverbsN/device is the adapter,
		// and its driver link ends in the driver's name.
		link, err := os.Readlink(root.Path(filepath.Join("/sys/class/infiniband_verbs", name, "device", "driver")))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if filepath.Base(link) == "efa" {
			out = append(out, filepath.Join("/dev/infiniband", name))
		}
	}
	slices.SortFunc(out, natural)
	return out, nil
}

// gpuNode is an NVIDIA GPU's device node, as opposed to nvidiactl,
// nvidia-uvm and nvidia-modeset.
var gpuNode = lazyre.New(`^nvidia[0-9]+$`)

// NVIDIAGPUs lists root's /dev/nvidiaN in GPU order, and the loaded
// driver's version from /proc/driver/nvidia/version ("" without the driver).
func NVIDIAGPUs(root config.Root) (nodes []string, driver string, err error) {
	entries, err := os.ReadDir(root.Path("/dev"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, "", err
	}
	for _, e := range entries {
		if gpuNode.MatchString(e.Name()) {
			nodes = append(nodes, "/dev/"+e.Name())
		}
	}
	slices.SortFunc(nodes, natural)
	data, err := os.ReadFile(root.Path("/proc/driver/nvidia/version"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nodes, "", err
	}
	return nodes, ParseDriverVersion(string(data)), nil
}

// driverLine finds the version in the NVRM line of
// /proc/driver/nvidia/version:
// "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 …"
// (open kernel modules say "NVIDIA UNIX Open Kernel Module for x86_64").
var driverLine = lazyre.New(`(?m)^NVRM version:.*?Kernel Module(?: for \S+)?\s+([0-9]+(?:\.[0-9]+)+)\s`)

// ParseDriverVersion is the NVIDIA driver version in the text of
// /proc/driver/nvidia/version, "" when there is none.
func ParseDriverVersion(text string) string {
	if m := driverLine.FindStringSubmatch(text); m != nil {
		return m[1]
	}
	return ""
}

// natural orders device names by number: nvidia2 before nvidia10 (the
// shorter name first, then by bytes).
func natural(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b)) }
