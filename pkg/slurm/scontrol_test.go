package slurm

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

const showNode = `NodeName=n1 Arch=x86_64 CoresPerSocket=1
   CPUAlloc=0 CPUEfctv=2 CPUTot=2 CPULoad=0.10
   NodeAddr=127.0.0.1 NodeHostName=n1 Version=22.05.8
   State=IDLE+DRAIN ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A
   Partitions=debug
   Reason=enroot-agent: credentials file [root@2026-11-28T12:00:00]
`

func TestParseNode(t *testing.T) {
	cases := map[string]Node{
		showNode: {State: "IDLE+DRAIN", Drain: true, Reason: "enroot-agent: credentials file"},
		"NodeName=n1\n   State=IDLE ThreadsPerCore=1\n":                                                   {State: "IDLE"},
		"   State=MIXED+DRAIN ThreadsPerCore=1\n   Reason=GPU XID 79 [admin@2026-01-01T00:00:00]\n":       {State: "MIXED+DRAIN", Drain: true, Reason: "GPU XID 79"},
		"   State=DOWN+DRAIN+NOT_RESPONDING X=1\n   Reason=enroot-agent: x [slurm@2026-01-01T00:00:00]\n": {State: "DOWN+DRAIN+NOT_RESPONDING", Drain: true, Down: true, Reason: "enroot-agent: x"},
		"   State=DRAINED X=1\n   Reason=a [b] c [u@t]\n":                                                 {State: "DRAINED", Drain: true, Reason: "a [b] c"},
	}
	for in, want := range cases {
		got, err := ParseNode(in)
		if err != nil || got != want {
			t.Errorf("%q:\n got %+v %v\nwant %+v", in, got, err, want)
		}
	}
	if _, err := ParseNode("slurm_load_node error: Invalid node name specified\n"); err == nil {
		t.Fatal("output without State= accepted")
	}
}

func FuzzParseNode(f *testing.F) {
	f.Add(showNode)
	f.Add("State=\nReason=")
	f.Fuzz(func(t *testing.T, in string) {
		n, err := ParseNode(in)
		if err == nil && n.Down && !stringsHasDown(n.State) {
			t.Fatalf("down without DOWN: %+v", n)
		}
	})
}

func stringsHasDown(s string) bool { return len(s) >= 4 && s[:4] == "DOWN" }

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
