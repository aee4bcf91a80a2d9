package accel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"go.uber.org/zap"
)

const (
	// HooksDir is where enroot runs system hooks from: every executable
	// *.sh, in name order, as the job's user, at every container start.
	HooksDir = "/etc/enroot/hooks.d"
	// HookSource is where Enroot's packages (.deb and .rpm) put the
	// optional hooks an admin enables by copying them into HooksDir.
	HookSource = "/usr/share/enroot/hooks.d"
	// StepHooks is the hooks step's name, as reports spell it.
	StepHooks = "enroot-hooks"
	// hookMarker opens the line the agent adds below a hook's shebang: it
	// tells the agent's copies from hooks someone else put there, and tells
	// an admin reading the file who keeps it.
	hookMarker = "# enroot-agent: copied from "
)

// HooksStep keeps the optional hooks enroot.hooks turns on in HooksDir,
// each a copy of Enroot's own file with the agent's marker line, and removes
// its copies of those turned off. A hook without the marker was put there
// by someone else: it is left alone, whatever the config says, and the
// enroot-hooks check reports it.
type HooksStep struct {
	Hooks map[string]bool // enroot.hooks
	Root  config.Root
	Log   *zap.Logger
	// Needs names the steps that must succeed first: the Enroot packages,
	// which bring HookSource.
	Needs []string
}

func (s *HooksStep) Name() string       { return StepHooks }
func (s *HooksStep) Requires() []string { return s.Needs }

// hookOpts: enroot runs only executable hooks, as every user.
var hookOpts = atomicfile.Options{Mode: 0o755, UID: -1, GID: -1}

// hook is one optional hook as the node has it.
type hook struct {
	Name   string
	On     bool   // enroot.hooks turns it on
	Path   string // re-rooted HooksDir/Name
	Source []byte // Enroot's file; nil when the package has none
	Want   []byte // the agent's copy of Source
	Have   []byte // the file in HooksDir; nil when missing
	Exists bool
	Ours   bool // Have carries the agent's marker
	Exec   bool // Have is executable, so enroot runs it
	Link   bool // Path is a symlink (an admin's ln -s of Enroot's file)
	// Awaits: Enroot is not installed yet, so its hook cannot be read (a
	// dry run before the first install plans the copy all the same).
	Awaits bool
}

// Foreign reports a hook in HooksDir the agent did not write.
func (h hook) Foreign() bool { return h.Exists && !h.Ours }

// Plan writes each hook that is on and missing or not as the agent wrote
// it, and removes the agent's copy of each hook that is off.
func (s *HooksStep) Plan(ctx context.Context) (*converge.Plan, error) {
	hooks, err := survey(s.Root, s.Hooks)
	if err != nil {
		return nil, err
	}
	var changes []converge.Change
	var acts []func(context.Context) error
	for _, h := range hooks {
		switch {
		case h.Foreign():
			continue
		case h.On && h.Awaits:
			err := fmt.Errorf("cannot copy %s: Enroot is not installed", h.Name)
			changes = append(changes, converge.Change{Action: "write", Target: h.Path + " (Enroot's copy, once Enroot is installed)"})
			acts = append(acts, func(context.Context) error { return err })
		case h.On:
			f := &converge.File{StepName: StepHooks, Path: h.Path, Opts: hookOpts}
			p, err := f.PlanContent(h.Want)
			if err != nil {
				return nil, err
			}
			if !p.Done() {
				changes, acts = append(changes, p.Changes...), append(acts, p.Apply)
			}
		case h.Exists:
			path := h.Path
			changes = append(changes, converge.Change{Action: "remove", Target: path})
			acts = append(acts, func(context.Context) error { return os.Remove(path) })
		}
	}
	if len(changes) == 0 {
		return &converge.Plan{}, nil
	}
	return converge.NewPlan("enroot.hooks differs from "+HooksDir, changes, func(ctx context.Context) error {
		if err := atomicfile.MkdirIfMissing(s.Root.Path(HooksDir)); err != nil {
			return err
		}
		for _, act := range acts {
			if err := act(ctx); err != nil {
				return err
			}
		}
		return nil
	}), nil
}

// survey reads every optional hook Enroot ships (config.OptionalHooks), in
// name order: those enroot.hooks turns on, and those it does not, which may
// still be in HooksDir. A hook that is on must exist in Enroot's package:
// an Enroot without it is an error naming the file.
func survey(root config.Root, on map[string]bool) ([]hook, error) {
	var out []hook
	for _, name := range config.OptionalHooks {
		h, err := readHook(root, name, on[name])
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

func readHook(root config.Root, name string, on bool) (hook, error) {
	h := hook{Name: name, On: on, Path: root.Path(filepath.Join(HooksDir, name))}
	src := filepath.Join(HookSource, name)
	data, err := os.ReadFile(root.Path(src))
	switch {
	case err == nil:
		h.Source, h.Want = data, withMarker(data, src)
	case !errors.Is(err, fs.ErrNotExist):
		return h, err
	case on && !exists(root.Path(EnrootBinary)):
		h.Awaits = true
	case on:
		return h, fmt.Errorf("enroot.hooks turns on %s, but the installed Enroot has no %s: install Enroot 3.x or later from NVIDIA's packages, or turn the hook off", name, src)
	}
	st, err := os.Lstat(h.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return h, err
	}
	h.Exists, h.Link = true, st.Mode()&fs.ModeSymlink != 0
	if h.Have, err = os.ReadFile(h.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return h, err // a dangling symlink reads as missing content
	}
	if target, err := os.Stat(h.Path); err == nil {
		h.Exec = target.Mode()&0o111 != 0
	}
	h.Ours = !h.Link && hasMarker(h.Have)
	return h, nil
}

// withMarker is src's text with the agent's marker as its second line (the
// first when it has no shebang): the kernel still finds the interpreter.
func withMarker(data []byte, src string) []byte {
	marker := hookMarker + src + " (enroot.hooks in the agent's config); local edits are overwritten\n"
	if bytes.HasPrefix(data, []byte("#!")) {
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			return slices.Concat(data[:i+1], []byte(marker), data[i+1:])
		}
	}
	return slices.Concat([]byte(marker), data)
}

// hasMarker looks for the marker in the first three lines only: a hook
// that merely mentions the agent further down is not the agent's.
func hasMarker(data []byte) bool {
	for i, line := range strings.SplitN(string(data), "\n", 4) {
		if i < 3 && strings.HasPrefix(line, hookMarker) {
			return true
		}
	}
	return false
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

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
