package slurm

import "testing"

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
