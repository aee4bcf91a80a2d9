package cluster

import (
	"strings"
	"testing"
)

func TestSlurmConfRender(t *testing.T) {
	conf := slurmConfig{ControllerPort: 16817, CPUs: 2, Computes: []*Node{
		{Name: "compute1", SlurmdPort: 16818}, {Name: "compute2", SlurmdPort: 16819}}}
	got := conf.render()
	for _, want := range []string{
		"SlurmctldHost=head(127.0.0.1)\n",
		"SlurmctldPort=16817\n",
		"ProctrackType=proctrack/linuxproc\n",
		"TaskPlugin=task/none\n",
		"PropagateResourceLimitsExcept=MEMLOCK\n",
		"NodeName=compute1 NodeAddr=127.0.0.1 NodeHostname=compute1 Port=16818 CPUs=2 State=UNKNOWN\n",
		"NodeName=compute2 NodeAddr=127.0.0.1 NodeHostname=compute2 Port=16819 CPUs=2 State=UNKNOWN\n",
		"PartitionName=compute Nodes=compute1,compute2 Default=YES MaxTime=INFINITE State=UP\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("slurm.conf lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "cgroup") {
		t.Errorf("slurm.conf names a cgroup plugin, which cannot work in a node container:\n%s", got)
	}
}

func TestParseSinfo(t *testing.T) {
	got := parseSinfo("compute1 idle\ncompute2 drain\n\ncompute3 idle*\n")
	if got["compute1"] != "idle" || got["compute2"] != "drain" || got["compute3"] != "idle*" || len(got) != 3 {
		t.Fatalf("parseSinfo = %v", got)
	}
	nodes := []*Node{{Name: "compute1"}, {Name: "compute2"}}
	if allIn(got, nodes, []string{"idle"}) || !allIn(got, nodes, []string{"idle", "drain"}) {
		t.Fatalf("allIn over %v is wrong", got)
	}
}

func TestRulesWithFor(t *testing.T) {
	rules, err := RulesWithFor("5s")
	if err != nil {
		t.Fatal(err)
	}
	got := string(rules)
	for _, want := range []string{"alert: EnrootAgentDown", "alert: EnrootAgentCheckFailing", "for: 5s",
		`expr: up{job="enroot-agent"} == 0`} {
		if !strings.Contains(got, want) {
			t.Errorf("the rewritten rules lack %q:\n%s", want, got)
		}
	}
	for _, shipped := range []string{"for: 10m", "for: 15m", "for: 5m"} {
		if strings.Contains(got, shipped) {
			t.Errorf("the rewritten rules still say %q", shipped)
		}
	}
}
