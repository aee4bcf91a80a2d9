package agent

import (
	"context"
	"fmt"
	"strings"

	"github.com/enroot-agent/enroot-agent/pkg/accel"
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
	return checksOf(Steps(env), DomainChecks(env))
}

// DomainChecks are the checks beyond each step's own: credentials first.
func DomainChecks(env Env) []verify.Check {
	checks := credentials.Checks(env.Config, env.Root, env.Probes)
	checks = append(checks, install.Checks(env.Config, env.Root)...)
	checks = append(checks, accel.Checks(env.Config, env.Root)...)
	checks = append(checks, pyxis.Checks(env.Config, env.Root, env.Slurm)...)
	return append(checks, images.Checks(env.Config, env.Root)...)
}

func checksOf(steps []converge.Step, domain []verify.Check) []verify.Check {
	var checks []verify.Check
	for _, s := range steps {
		checks = append(checks, StepCheck(s))
	}
	return append(checks, domain...)
}

// stepCheckPrefix starts the name of every step's own check.
const stepCheckPrefix = "step "

// Repairable names the checks a converge (and the credentials files'
// rewrite after it) can turn ok again: each step's own check and the
// credentials checks. Their failure starts a drift repair.
func Repairable(steps []converge.Step, env Env) map[string]bool {
	names := map[string]bool{}
	for _, s := range steps {
		names[stepCheckPrefix+s.Name()] = true
	}
	for name := range credentialsChecks(env) {
		names[name] = true
	}
	return names
}

// credentialsChecks names the checks about the credentials files: while
// one fails, the daemon restores the files before it drains or converges.
func credentialsChecks(env Env) map[string]bool {
	names := map[string]bool{}
	for _, c := range credentials.Checks(env.Config, env.Root, nil) {
		names[c.Name()] = true
	}
	return names
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
