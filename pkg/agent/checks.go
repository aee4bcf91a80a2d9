package agent

import (
	"context"
	"fmt"

	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/credentials"
	"github.com/enroot-agent/enroot-agent/pkg/images"
	"github.com/enroot-agent/enroot-agent/pkg/install"
	"github.com/enroot-agent/enroot-agent/pkg/pyxis"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// Checks lists every verify check, in the order they are shown. The first
// ones ask each converge step whether its work is done, through the very
// step objects apply uses, so verify and apply cannot disagree about what a
// converged node is. Domain checks (enroot, pyxis, credentials) follow.
func Checks(env Env) []verify.Check {
	var checks []verify.Check
	for _, s := range Steps(env) {
		checks = append(checks, StepCheck(s))
	}
	checks = append(checks, credentials.Checks(env.Config, env.Root)...)
	checks = append(checks, install.Checks(env.Config, env.Root)...)
	checks = append(checks, pyxis.Checks(env.Config, env.Root)...)
	checks = append(checks, images.Checks(env.Config, env.Root)...)
	return checks
}

// StepCheck reports whether one converge step is converged: an empty plan is
// ok, a pending change is a failure with its reason, and a step that cannot
// even plan is unknown.
func StepCheck(s converge.Step) verify.Check {
	name := "step " + s.Name()
	return verify.Func{CheckName: name, Fn: func(ctx context.Context) verify.Result {
		plan, err := s.Plan(ctx)
		switch {
		case err != nil:
			return verify.Unknownf("see the agent's log (journalctl -u enroot-agent); `enroot-agent apply` retries",
				"%s cannot tell whether it is converged: %v", s.Name(), err)
		case plan.Done():
			return verify.Ok(s.Name() + " converged")
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
