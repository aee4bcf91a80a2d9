package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// A required line naming a missing plugin breaks every srun on the node:
// verify names the file and line, and Slurm's own srun fails on the same
// line, so the check says what Slurm would.
func TestVerifyNamesBrokenPlugstackLine(t *testing.T) {
	n := newPyxisNode(t, "")
	n.apply(t)
	n.write(t, "etc/plugstack.conf.d/x11.conf", "# site plugin\nrequired /usr/lib/slurm-site/spank_x11.so\n")
	out, errOut, code := runAgent(t, "--root", n.root, "--config", n.config, "verify", "--local", "--json")
	var rep struct {
		Status string `json:"status"`
		Checks []struct{ Name, Status, Message, Fix string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("verify --json: %v\n%s\n%s", err, out, errOut)
	}
	line := n.host + "/etc/plugstack.conf.d/x11.conf:2"
	found := false
	for _, c := range rep.Checks {
		if c.Name == "pyxis-plugstack" {
			found = true
			if c.Status != "fail" || !strings.Contains(c.Message, line+": required plugin /usr/lib/slurm-site/spank_x11.so does not exist") || c.Fix == "" {
				t.Fatalf("pyxis-plugstack: %+v", c)
			}
		}
	}
	if !found || code != 1 || rep.Status != "fail" {
		t.Fatalf("exit %d, report %+v", code, rep)
	}
	srun, err := exec.Command("srun", "--help").CombinedOutput()
	if err == nil || !strings.Contains(string(srun), "spank: "+line+": Failed to load plugin") {
		t.Fatalf("srun must fail on the same line: %v\n%s", err, srun)
	}
}
