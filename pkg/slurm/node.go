package slurm

import (
	"fmt"
	"regexp"
	"strings"
)

// Node is what the drain logic needs from `scontrol show node`.
type Node struct {
	State  string // e.g. IDLE+DRAIN
	Drain  bool   // DRAIN, DRAINING or DRAINED
	Down   bool
	Reason string // without Slurm's trailing "[user@time]"
}

// slurmStamp is what slurmctld appends to a reason: " [root@2024-01-02T03:04:05]".
var slurmStamp = regexp.MustCompile(`\s*\[[^\[\]]*@[^\[\]]*\]$`)

// ParseNode reads the multi-line `scontrol show node NAME` output, where
// Reason= sits on its own line and may hold spaces.
func ParseNode(out string) (Node, error) {
	var n Node
	found := false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if r, ok := strings.CutPrefix(line, "Reason="); ok {
			n.Reason = slurmStamp.ReplaceAllString(r, "")
			continue
		}
		for _, f := range strings.Fields(line) {
			if s, ok := strings.CutPrefix(f, "State="); ok {
				n.State, found = s, true
			}
		}
	}
	if !found {
		return Node{}, fmt.Errorf("no State= in the output")
	}
	for i, flag := range strings.Split(n.State, "+") {
		switch {
		case strings.HasPrefix(flag, "DRAIN"):
			n.Drain = true
		case i == 0 && flag == "DOWN":
			n.Down = true
		}
	}
	if n.Reason == "(null)" || n.Reason == "none" {
		n.Reason = ""
	}
	return n, nil
}
