package credentials

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// Stage is one step of a pull probe: login, manifest or layer.
type Stage struct {
	Registry string
	Image    string // "" for a login-only probe
	Name     string
	Err      string // "" when the stage passed; never holds a secret
	Fix      string
}

// probeResult turns the stages into the check's result: one clause per
// registry or image, "login ok, manifest ok, layer: S3 unreachable: ...".
func probeResult(stages []Stage) verify.Result {
	var clauses, fixes []string
	failed := false
	for i := 0; i < len(stages); {
		key := stages[i].Image
		if key == "" {
			key = stages[i].Registry
		}
		var parts []string
		for ; i < len(stages) && (stages[i].Image == key || stages[i].Image == "" && stages[i].Registry == key); i++ {
			s := stages[i]
			if s.Err == "" {
				parts = append(parts, s.Name+" ok")
				continue
			}
			failed = true
			parts = append(parts, s.Name+": "+s.Err)
			if !slices.Contains(fixes, s.Fix) {
				fixes = append(fixes, s.Fix)
			}
		}
		clauses = append(clauses, key+": "+strings.Join(parts, ", "))
	}
	msg := strings.Join(clauses, "; ")
	if failed {
		return verify.Failf(strings.Join(fixes, "; "), "%s", msg)
	}
	return verify.Ok(fmt.Sprintf("%d probe(s) passed: %s", len(clauses), msg))
}

// lastProbe is this process's latest probe, for the metrics; a scrape never
// probes.
var lastProbe struct {
	sync.Mutex
	stages []Stage
}

func recordProbe(stages []Stage) {
	lastProbe.Lock()
	lastProbe.stages = stages
	lastProbe.Unlock()
}

// LastProbe returns the stages of the latest probe in this process.
func LastProbe() []Stage {
	lastProbe.Lock()
	defer lastProbe.Unlock()
	return slices.Clone(lastProbe.stages)
}
