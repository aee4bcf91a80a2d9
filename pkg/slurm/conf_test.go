package slurm

import (
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

func TestParseConf(t *testing.T) {
	in := "ClusterName=c # comment\n" +
		"propagateResourceLimitsExcept=MEMLOCK,NOFILE\n" +
		"NodeName=n[1-4] CPUs=96 State=CLOUD\n" +
		"include slurm_parallelcluster.conf\n" +
		"SlurmctldHost=head(10.0.0.1) PlugStackConfig=/opt/slurm/etc/plugstack.conf\n"
	s, inc := ParseConf("/s.conf", []byte(in))
	if s["propagateresourcelimitsexcept"].Value != "MEMLOCK,NOFILE" || s["propagateresourcelimitsexcept"].Where != "/s.conf:2" {
		t.Fatalf("settings %+v", s)
	}
	if _, ok := s["cpus"]; ok {
		t.Fatal("node lines must not set cluster keys")
	}
	if s["plugstackconfig"].Value != "/opt/slurm/etc/plugstack.conf" || len(inc) != 1 || inc[0].Pattern != "slurm_parallelcluster.conf" {
		t.Fatalf("settings %+v includes %v", s, inc)
	}
}

func TestMemlockAdvice(t *testing.T) {
	for in, ok := range map[string]bool{
		"":                                      false,
		"PropagateResourceLimitsExcept=MEMLOCK": true,
		"PropagateResourceLimitsExcept=NOFILE":  false,
		"PropagateResourceLimitsExcept=ALL":     true,
		"PropagateResourceLimits=NONE":          true,
		"PropagateResourceLimits=ALL":           false,
		"PropagateResourceLimits=CORE,NOFILE":   true,
		"PropagateResourceLimits=MEMLOCK":       false,
	} {
		s, _ := ParseConf("f", []byte(in))
		if got := MemlockAdvice(s) == ""; got != ok {
			t.Errorf("%q: ok=%v, want %v (%s)", in, got, ok, MemlockAdvice(s))
		}
	}
}

func TestReadConfFollowsIncludes(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/opt/slurm/etc/slurm.conf", "ClusterName=c\ninclude pc/*.conf\n")
	write(t, root+"/opt/slurm/etc/pc/limits.conf", "PropagateResourceLimitsExcept=MEMLOCK\n")
	write(t, root+"/opt/slurm/etc/pc/.limits.conf.tmp-1", "PropagateResourceLimitsExcept=NOFILE\n")
	s, err := ReadConf(config.Root(root), "/opt/slurm/etc/slurm.conf")
	if err != nil || MemlockAdvice(s) != "" || s["propagateresourcelimitsexcept"].Where != "/opt/slurm/etc/pc/limits.conf:1" {
		t.Fatalf("%+v %v", s, err)
	}
}

func FuzzParseConf(f *testing.F) {
	f.Add("A=b c=d\ninclude x\n#\nNodeName=a B=c\n")
	f.Fuzz(func(t *testing.T, in string) {
		s, _ := ParseConf("f", []byte(in))
		for k, v := range s {
			if k != strings.ToLower(k) || strings.ContainsAny(k, "= \t\n#") || !strings.HasPrefix(v.Where, "f:") {
				t.Fatalf("key %q %+v from %q", k, v, in)
			}
		}
		MemlockAdvice(s)
	})
}
