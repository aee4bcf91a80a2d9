package converge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"
)

// Outcome is what happened to one step in one run.
type Outcome string

const (
	Done    Outcome = "done"    // nothing to do
	Changed Outcome = "changed" // applied
	Planned Outcome = "planned" // would apply (dry run)
	Failed  Outcome = "failed"
	Blocked Outcome = "blocked" // a step it requires failed or is blocked
	Pending Outcome = "pending" // waits for an action the agent cannot take here
)

// PendingError is what a plan's Apply returns, wrapped, when the change needs an
// outside action (a restart with no systemd to ask): not a failure, but not
// done either, and the step's check keeps saying so.
type PendingError struct{ Why string }

func (p *PendingError) Error() string { return p.Why }

// Result is one step's outcome.
type Result struct {
	Step     string
	Outcome  Outcome
	Plan     *Plan
	Err      error
	Note     string // what a pending step waits for
	Duration time.Duration
}

// Report is the outcome of one run, in step order.
type Report struct {
	Results []Result
}

// Err joins the errors of failed and blocked steps, each naming its step.
func (r Report) Err() error {
	var errs []error
	for _, res := range r.Results {
		if res.Err != nil {
			errs = append(errs, &StepError{Step: res.Step, Err: res.Err})
		}
	}
	return errors.Join(errs...)
}

// Runner runs steps in order. A failed step does not stop the run: later
// steps that do not require it still run, so one broken download does not
// keep credentials from being refreshed.
type Runner struct {
	Log    *zap.Logger
	DryRun bool
}

// Run plans and, unless DryRun, applies every step.
func (r *Runner) Run(ctx context.Context, steps []Step) Report {
	var rep Report
	bad := map[string]bool{}
	early := r.startEarly(ctx, steps)
	for i, s := range steps {
		var res Result
		if ch, ok := early[i]; ok {
			res = <-ch
		} else if err := unknownRequirement(steps[:i], s); err != nil {
			r.Log.Error("step failed", zap.String("step", s.Name()), zap.Error(err))
			res = Result{Step: s.Name(), Outcome: Failed, Err: err}
		} else {
			res = r.runOne(ctx, s, bad)
		}
		if res.Outcome == Failed || res.Outcome == Blocked {
			bad[s.Name()] = true
		}
		rep.Results = append(rep.Results, res)
	}
	return rep
}

func (r *Runner) runOne(ctx context.Context, s Step, bad map[string]bool) Result {
	log := r.Log.With(zap.String("step", s.Name()))
	start := time.Now()
	res := Result{Step: s.Name()}
	finish := func(o Outcome, err error) Result {
		res.Outcome, res.Err, res.Duration = o, err, time.Since(start)
		return res
	}
	if d, ok := s.(Dependent); ok {
		for _, req := range d.Requires() {
			if bad[req] {
				log.Warn("step blocked", zap.String("requires", req))
				return finish(Blocked, errors.New("not attempted: required step "+req+" did not succeed"))
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return finish(Blocked, err)
	}
	plan, err := s.Plan(ctx)
	res.Plan = plan
	switch {
	case err != nil:
		log.Error("step failed", zap.String("phase", "plan"), zap.Error(err))
		return finish(Failed, err)
	case plan.Done():
		log.Debug("step already done")
		return finish(Done, nil)
	case r.DryRun:
		log.Info("step would change", zap.String("reason", plan.Reason), zap.String("changes", plan.Summary()))
		return finish(Planned, nil)
	}
	log.Info("step starting", zap.String("reason", plan.Reason), zap.String("changes", plan.Summary()))
	if err := plan.Apply(ctx); err != nil {
		var pending *PendingError
		if errors.As(err, &pending) {
			res.Note = pending.Why
			return finish(Pending, nil)
		}
		log.Error("step failed", zap.Error(err), zap.Duration("took", time.Since(start)))
		return finish(Failed, err)
	}
	log.Info("step done", zap.Duration("took", time.Since(start)))
	return finish(Changed, nil)
}

// unknownRequirement refuses a step that requires a name none of the steps
// before it has: a typo, or a step left out of this list, must not pass for
// "did not fail".
func unknownRequirement(before []Step, s Step) error {
	d, ok := s.(Dependent)
	if !ok {
		return nil
	}
	for _, req := range d.Requires() {
		if !slices.ContainsFunc(before, func(b Step) bool { return b.Name() == req }) {
			return fmt.Errorf("requires step %q, which is not among the steps before it", req)
		}
	}
	return nil
}

// Early is implemented by steps whose Apply only fills the agent's own
// cache, such as a download. The runner starts them at once, beside the
// steps ahead of them, so that a slow download overlaps the installs before
// it (BENCHMARKS.md, cold converge); their outcome is still reported, and
// counted by the steps that require them, at their turn. A step that
// requires another never starts early, and a dry run starts nothing early.
type Early interface {
	Step
	RunsEarly() bool
}

// startEarly runs the Early steps in the background; the channel of step i
// delivers its result.
func (r *Runner) startEarly(ctx context.Context, steps []Step) map[int]chan Result {
	out := map[int]chan Result{}
	if r.DryRun {
		return out
	}
	for i, s := range steps {
		e, ok := s.(Early)
		if !ok || !e.RunsEarly() {
			continue
		}
		if d, ok := s.(Dependent); ok && len(d.Requires()) > 0 {
			continue
		}
		ch := make(chan Result, 1)
		out[i] = ch
		go func() { ch <- r.runOne(ctx, s, nil) }()
	}
	return out
}
