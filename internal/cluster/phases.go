package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Phases is where one bootstrap's time went, read from the node's journal
// (the node shares the host's clock). Steps run partly at once (the Pyxis
// download beside Enroot's install), so they do not add up to Converge.
type Phases struct {
	// Install runs from the action's start to systemd starting the agent:
	// the script and the package fetched, apt-get install of the package,
	// the config fetched, validated and written.
	Install time.Duration
	// Converge is the agent's start to READY=1: its first converge and
	// token refresh.
	Converge time.Duration
	// Ready is READY=1 to the script's exit: its poll and enroot-agent
	// verify.
	Ready time.Duration
	// Steps is each converge step's own time, by step name.
	Steps map[string]time.Duration
}

// BootstrapPhases splits b, the node's first bootstrap, into Phases.
func (n *Node) BootstrapPhases(ctx context.Context, b Bootstrap) (Phases, error) {
	out, err := n.Output(ctx, "journalctl", "--no-pager", "-o", "json", "-u", "enroot-agent.service",
		"--since", "@"+strconv.FormatInt(b.Start.Unix()-1, 10))
	if err != nil {
		return Phases{}, err
	}
	return parsePhases(out, b.Start, b.Start.Add(b.Took))
}

// parsePhases reads journalctl -o json lines: systemd's "Starting" and
// "Started" of the unit, and the agent's "step done" lines (zap's console
// encoding: level, message, then the fields as JSON).
func parsePhases(journal string, start, end time.Time) (Phases, error) {
	p := Phases{Steps: map[string]time.Duration{}}
	var starting, started time.Time
	sc := bufio.NewScanner(strings.NewReader(journal))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e struct {
			Message  string `json:"MESSAGE"`
			Realtime string `json:"__REALTIME_TIMESTAMP"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		us, err := strconv.ParseInt(e.Realtime, 10, 64)
		if err != nil {
			continue
		}
		at := time.UnixMicro(us)
		if at.Before(start) {
			continue
		}
		switch {
		case strings.HasPrefix(e.Message, "Starting enroot-agent.service") && starting.IsZero():
			starting = at
		case strings.HasPrefix(e.Message, "Started enroot-agent.service") && started.IsZero():
			started = at
		case strings.Contains(e.Message, "step done"):
			var f struct {
				Step string  `json:"step"`
				Took float64 `json:"took"`
			}
			if i := strings.IndexByte(e.Message, '{'); i >= 0 && json.Unmarshal([]byte(e.Message[i:]), &f) == nil && f.Step != "" {
				p.Steps[f.Step] += time.Duration(f.Took * float64(time.Second))
			}
		}
	}
	if starting.IsZero() || started.IsZero() {
		return p, fmt.Errorf("the journal has no start of enroot-agent.service after %s", start.Format(time.RFC3339Nano))
	}
	p.Install, p.Converge, p.Ready = starting.Sub(start), started.Sub(starting), end.Sub(started)
	return p, nil
}
