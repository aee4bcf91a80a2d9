package config

import (
	"maps"
	"strings"
	"testing"
)

// Both Slurm hooks are on by default; turning one off keeps the other.
func TestEnrootHooksDefaultsAndOverride(t *testing.T) {
	c, err := Parse("c.yaml", []byte("enroot:\n  hooks: {50-slurm-pytorch.sh: false}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"50-slurm-pmi.sh": true, "50-slurm-pytorch.sh": false}
	if !maps.Equal(c.Enroot.Hooks, want) {
		t.Fatalf("hooks %v, want %v", c.Enroot.Hooks, want)
	}
	if d := Default().Enroot.Hooks; !d["50-slurm-pmi.sh"] || !d["50-slurm-pytorch.sh"] || len(d) != 2 {
		t.Fatalf("default hooks %v", d)
	}
}

func TestEnrootHooksErrorsHaveLines(t *testing.T) {
	in := "enroot:\n  hooks:\n    50-slurm-pmi.sh: true\n    50-slurm-pmix.sh: true\n    50-sharp.sh: maybe\n"
	_, err := Parse("c.yaml", []byte(in))
	want := []string{
		`c.yaml:4: enroot.hooks.50-slurm-pmix.sh: Enroot ships no optional hook of that name in /usr/share/enroot/hooks.d (it ships 50-mig-config.sh, 50-sharp.sh, 50-slurm-pmi.sh, 50-slurm-pytorch.sh)`,
		`c.yaml:5: enroot.hooks.50-sharp.sh: "maybe" is not a boolean (use true or false)`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Fatalf("got:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}
