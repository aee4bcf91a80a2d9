package node

import (
	"context"
	"fmt"
	"strings"

	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// stepCheckPrefix starts the name of every step's own check.
const stepCheckPrefix = "step "

// StepCheck reports whether one converge step is converged: an empty plan,
// or one that only records a state the node is already in, is ok; a pending
// change is a failure with its reason; a step that cannot even plan is
// unknown.
func StepCheck(s converge.Step) verify.Check {
	name := stepCheckPrefix + s.Name()
	return verify.Func{CheckName: name, Fn: func(ctx context.Context) verify.Result {
		plan, err := s.Plan(ctx)
		switch {
		case err != nil:
			return verify.Unknownf("see the agent's log (journalctl -u enroot-agent); `enroot-agent apply` retries",
				"%s cannot tell whether it is converged: %v", s.Name(), err)
		case plan.Done():
			return verify.Ok(s.Name() + " converged")
		case plan.Satisfied:
			return verify.Ok(s.Name() + " converged: " + plan.Reason + " (recorded at the next converge)")
		}
		return verify.Failf(verify.ApplyFix,
			"%s not converged: %s (%s)", s.Name(), plan.Reason, summary(plan))
	}}
}

// summary keeps a long plan readable in a table row.
func summary(p *converge.Plan) string {
	if len(p.Changes) > 3 {
		return fmt.Sprintf("%s; %s; and %d more", p.Changes[0], p.Changes[1], len(p.Changes)-2)
	}
	return p.Summary()
}

// RootCause names the check that says best why the node is not ok, for the
// drain reason and STATUS=: a failing domain check (the plugin was built for
// another Slurm) before a step check that only follows from it (a step
// that cannot plan), and a failure before an "unknown".
func RootCause(results []verify.Result) string {
	for _, want := range []verify.Status{verify.Fail, verify.Unknown} {
		first := ""
		for _, r := range results {
			if r.Status != want {
				continue
			}
			if !strings.HasPrefix(r.Name, stepCheckPrefix) {
				return r.Name
			}
			if first == "" {
				first = r.Name
			}
		}
		if first != "" {
			return first
		}
	}
	return ""
}
