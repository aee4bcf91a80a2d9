package cluster

import (
	"testing"
	"time"
)

// parsePhases reads journalctl -o json as a node's journald writes it:
// systemd's job messages for the unit and the agent's console-encoded
// lines; a line before the action started (an earlier run) is left out.
func TestParsePhases(t *testing.T) {
	start := time.UnixMicro(1764766800000000)
	journal := `{"__REALTIME_TIMESTAMP":"1764766790000000","MESSAGE":"Started enroot-agent.service - an earlier run."}
{"__REALTIME_TIMESTAMP":"1764766802500000","MESSAGE":"Starting enroot-agent.service - Keeps this node able to run containers from ECR...","UNIT":"enroot-agent.service"}
{"__REALTIME_TIMESTAMP":"1764766803000000","MESSAGE":"info\tstep done\t{\"step\": \"enroot-packages\", \"took\": 0.75}"}
{"__REALTIME_TIMESTAMP":"1764766804000000","MESSAGE":"info\tstep done\t{\"step\": \"pyxis-build\", \"took\": 1.5}"}
not json at all
{"__REALTIME_TIMESTAMP":"1764766804100000","MESSAGE":"info\tstep starting\t{\"step\": \"slurmd-restart\"}"}
{"__REALTIME_TIMESTAMP":"1764766805000000","MESSAGE":"Started enroot-agent.service - Keeps this node able to run containers from ECR.","UNIT":"enroot-agent.service"}
`
	p, err := parsePhases(journal, start, start.Add(6*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if p.Install != 2500*time.Millisecond || p.Converge != 2500*time.Millisecond || p.Ready != time.Second {
		t.Errorf("phases %+v", p)
	}
	if len(p.Steps) != 2 || p.Steps["enroot-packages"] != 750*time.Millisecond || p.Steps["pyxis-build"] != 1500*time.Millisecond {
		t.Errorf("steps %v", p.Steps)
	}
	if _, err := parsePhases(journal, start.Add(10*time.Second), start.Add(11*time.Second)); err == nil {
		t.Error("no start of the unit after the action's start must be an error")
	}
}
