package slurm

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// TestScontrolFromSlurmPrefix: on a ParallelCluster node scontrol is in
// /opt/slurm/bin, which the agent's unit does not have on its PATH; the
// drain must find it under the Slurm prefix (a real systemd node failed
// every drain with "executable file not found in $PATH").
func TestScontrolFromSlurmPrefix(t *testing.T) {
	root := t.TempDir()
	if got := ScontrolPath(config.Root(root), "/opt/slurm"); got != "scontrol" {
		t.Fatalf("without %s/opt/slurm/bin/scontrol: %q, want scontrol from PATH", root, got)
	}
	bin := filepath.Join(root, "opt/slurm/bin/scontrol")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho \"NodeName=$3 Arch=x86_64\"\necho \"   State=IDLE+DRAIN ThreadsPerCore=1\"\necho \"   Reason=maintenance [root@2024-01-02T03:04:05]\"\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	path := ScontrolPath(config.Root(root), "/opt/slurm")
	if path != bin {
		t.Fatalf("ScontrolPath = %q, want %q", path, bin)
	}
	t.Setenv("PATH", t.TempDir()) // no scontrol anywhere on PATH
	n, err := Scontrol{Node: "compute1", Path: path}.Show(context.Background())
	if err != nil || !n.Drain || n.Reason != "maintenance" {
		t.Fatalf("Show through %s: %+v, %v", path, n, err)
	}
}
