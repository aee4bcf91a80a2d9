package accel

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/fake/host"
	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// A p5.48xlarge has 32 EFA adapters; a node may also carry a Mellanox
// adapter, whose verbs device Enroot's own hook handles.
func TestEFADevicesFromFakeTree(t *testing.T) {
	root := t.TempDir()
	if err := host.FakeEFA(root, 12); err != nil {
		t.Fatal(err)
	}
	if err := host.FakeVerbs(root, "uverbs12", "0000:a0:00.0", "mlx5_core"); err != nil {
		t.Fatal(err)
	}
	// A verbs node with no sysfs entry (unplugged meanwhile) is not EFA.
	put(t, filepath.Join(root, "dev/infiniband/uverbs13"), "", 0o666)
	got, err := EFADevices(config.Root(root))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 12 || got[0] != "/dev/infiniband/uverbs0" || got[11] != "/dev/infiniband/uverbs11" || slices.Contains(got, "/dev/infiniband/uverbs12") {
		t.Fatalf("EFA devices %q", got)
	}
	if got, err := EFADevices(config.Root(t.TempDir())); err != nil || len(got) != 0 {
		t.Fatalf("a node without EFA: %q %v", got, err)
	}
}

func TestParseDriverVersion(t *testing.T) {
	for text, want := range map[string]string{
		"NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\nGCC version:  gcc version 12.2.0\n": "550.54.15",
		"NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.124.06  Release Build  (dvs-builder@U16-I3-B13-4-3)\n":          "570.124.06",
		"NVRM version: NVIDIA UNIX aarch64 Kernel Module  535.161.08  Fri Mar  1 2024\n":                                              "535.161.08",
		"": "", "GCC version: 12\n": "",
	} {
		if got := ParseDriverVersion(text); got != want {
			t.Errorf("%q: %q, want %q", text, got, want)
		}
	}
}

func TestNVIDIAGPUsFromFakeTree(t *testing.T) {
	root := t.TempDir()
	for _, n := range []string{"nvidia10", "nvidia2", "nvidia0", "nvidiactl", "nvidia-uvm", "nvidia-modeset", "nvidia1", "nvidia3", "nvidia4", "nvidia5", "nvidia6", "nvidia7", "nvidia8", "nvidia9"} {
		put(t, filepath.Join(root, "dev", n), "", 0o666)
	}
	put(t, filepath.Join(root, "proc/driver/nvidia/version"), "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 2024\n", 0o444)
	nodes, driver, err := NVIDIAGPUs(config.Root(root))
	if err != nil || driver != "550.54.15" {
		t.Fatal(driver, err)
	}
	if strings.Join(nodes, " ") != "/dev/nvidia0 /dev/nvidia1 /dev/nvidia2 /dev/nvidia3 /dev/nvidia4 /dev/nvidia5 /dev/nvidia6 /dev/nvidia7 /dev/nvidia8 /dev/nvidia9 /dev/nvidia10" {
		t.Fatalf("nodes %q", nodes)
	}
	if err := os.RemoveAll(filepath.Join(root, "proc")); err != nil {
		t.Fatal(err)
	}
	if _, driver, err := NVIDIAGPUs(config.Root(root)); driver != "" || err != nil {
		t.Fatalf("no driver: %q %v", driver, err)
	}
}
