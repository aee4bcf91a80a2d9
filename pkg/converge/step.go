package converge

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Step is one piece of the node's desired state.
type Step interface {
	// Name is short and stable: it appears in logs, metrics and verify.
	Name() string
	// Plan inspects the node and lists what the plan's Apply would change.
	// It must not change anything. An empty plan means the step is done.
	Plan(ctx context.Context) (*Plan, error)
}

// Dependent is implemented by steps that make no sense when an earlier step
// failed, such as building Pyxis after its download failed. Requires names
// steps that come earlier in the same list; the runner fails a step that
// names any other.
type Dependent interface {
	Requires() []string
}

// Plan is what a step would change, and why, and how to do it.
type Plan struct {
	Reason  string
	Changes []Change
	// Satisfied says the node already is as the step wants and Apply only
	// records it (a memo later plans read, such as "slurmd runs this
	// plugin"): verify counts the step as converged at once, while the next
	// converge still writes the record.
	Satisfied bool
	// apply makes the changes. A step builds it as a closure over its own
	// typed data (the rendered file, the assets to install), so what Plan
	// found reaches Apply without a type assertion.
	apply func(ctx context.Context) error
}

// NewPlan is a plan whose Apply calls apply.
func NewPlan(reason string, changes []Change, apply func(ctx context.Context) error) *Plan {
	return &Plan{Reason: reason, Changes: changes, apply: apply}
}

// Satisfied is a plan whose only change records a state the node is
// already in.
func Satisfied(reason string, changes []Change, apply func(ctx context.Context) error) *Plan {
	p := NewPlan(reason, changes, apply)
	p.Satisfied = true
	return p
}

// Done reports whether there is nothing to do.
func (p *Plan) Done() bool { return p == nil || len(p.Changes) == 0 }

// Apply makes the changes the plan lists; a done plan does nothing.
func (p *Plan) Apply(ctx context.Context) error {
	switch {
	case p.Done():
		return nil
	case p.apply == nil:
		return errors.New("the plan lists changes but no way to make them (a bug in the step)")
	}
	return p.apply(ctx)
}

// Change is one effect on the node: a file written, a command run.
type Change struct {
	Action string // write, mkdir, run, remove, restart, ...
	Target string // a path, a command line, a unit
	Diff   string // for writes: a unified diff, or a note when the content is secret
}

func (c Change) String() string { return c.Action + " " + c.Target }

// Summary is one line listing the changes.
func (p *Plan) Summary() string {
	parts := make([]string, len(p.Changes))
	for i, c := range p.Changes {
		parts[i] = c.String()
	}
	return strings.Join(parts, "; ")
}

// StepError names the step that failed.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("%s: %v", e.Step, e.Err) }
func (e *StepError) Unwrap() error { return e.Err }
