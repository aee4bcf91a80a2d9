package converge

import "context"

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
