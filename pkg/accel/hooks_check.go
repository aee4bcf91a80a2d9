package accel

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// HooksCheck reports what enroot runs of the optional hooks: each hook that
// is on, as the agent wrote it from the installed Enroot, and each hook the
// agent did not write, which it leaves alone and names here. Hooks someone
// else put there keep the check ok (the node works as its admin set it up),
// with the fix saying how to hand them to the agent.
func HooksCheck(hooks map[string]bool, root config.Root) verify.Check {
	return verify.Func{CheckName: "enroot-hooks", Fn: func(context.Context) verify.Result {
		return hooksResult(root, hooks)
	}}
}

func hooksResult(root config.Root, on map[string]bool) verify.Result {
	hooks, err := survey(root, on)
	if err != nil {
		return verify.Failf(verify.ApplyFix+" once Enroot is installed", "%v", err)
	}
	var running, problems, foreign []string
	for _, h := range hooks {
		switch {
		case h.Foreign():
			foreign = append(foreign, foreignNote(h))
		case h.Awaits:
			problems = append(problems, h.Name+" is on, but Enroot is not installed")
		case h.On && !bytes.Equal(h.Have, h.Want):
			problems = append(problems, h.Name+" is on but "+HooksDir+" does not hold the agent's copy of the installed Enroot's")
		case h.On && !h.Exec:
			problems = append(problems, h.Name+" is not executable, so enroot skips it")
		}
		if h.Exists && h.Exec && (h.On || h.Foreign()) {
			running = append(running, h.Name)
		}
	}
	if len(problems) > 0 {
		return verify.Failf(verify.ApplyFix, "%s", strings.Join(append(problems, foreign...), "; "))
	}
	msg := "enroot runs " + list(running) + " from " + HooksDir
	if len(foreign) == 0 {
		return verify.Ok(msg)
	}
	r := verify.Ok(msg + "; not written by the agent, left alone: " + strings.Join(foreign, "; "))
	r.Fix = "to let the agent keep a hook, remove the file and run `enroot-agent apply`; to turn one off, remove the file and set enroot.hooks.<name>: false"
	return r
}

// foreignNote says what a hook the agent did not write is, next to what
// the config asks of it.
func foreignNote(h hook) string {
	what := "differs from Enroot's " + HookSource + "/" + h.Name
	switch {
	case h.Source != nil && bytes.Equal(h.Have, h.Source) && h.Link:
		what = "a symlink to Enroot's own"
	case h.Source != nil && bytes.Equal(h.Have, h.Source):
		what = "identical to Enroot's own"
	}
	if !h.Exec {
		what += ", not executable (enroot skips it)"
	}
	want := "enroot.hooks does not turn it on, yet enroot runs it"
	switch {
	case h.On:
		want = "enroot.hooks turns it on"
	case !h.Exec:
		want = "enroot.hooks leaves it off"
	}
	return fmt.Sprintf("%s (%s; %s)", h.Name, what, want)
}

func list(names []string) string {
	if len(names) == 0 {
		return "no optional hook"
	}
	return strings.Join(names, ", ")
}
