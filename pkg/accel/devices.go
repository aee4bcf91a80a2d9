package accel

import (
	"cmp"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

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
	// node has no nvidia-smi.
	SMI []string
}

// None reports a node with nothing for a container to see: no EFA
// adapter and no NVIDIA GPU.
func (d Devices) None() bool { return len(d.EFA) == 0 && len(d.GPUs) == 0 && d.Driver == "" }

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
var gpuNode = regexp.MustCompile(`^nvidia[0-9]+$`)

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
var driverLine = regexp.MustCompile(`(?m)^NVRM version:.*?Kernel Module(?: for \S+)?\s+([0-9]+(?:\.[0-9]+)+)\s`)

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
