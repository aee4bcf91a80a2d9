package accel

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"go.uber.org/zap"
)

// enrootRoot is a node root with Enroot's two optional Slurm hooks where its
// packages put them.
func enrootRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, name := range []string{"50-slurm-pmi.sh", "50-slurm-pytorch.sh"} {
		put(t, filepath.Join(root, HookSource, name), pkgrepo.FixtureHook(name), 0o755)
	}
	put(t, filepath.Join(root, EnrootBinary), "#!/bin/sh\n", 0o755)
	return root
}

func hooksStep(root string, on map[string]bool) *HooksStep {
	return &HooksStep{Hooks: on, Root: config.Root(root), Log: zap.NewNop()}
}

// converge plans and applies s, and returns the plan's changes.
func run(t *testing.T, s *HooksStep) []string {
	t.Helper()
	plan, err := s.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range plan.Changes {
		out = append(out, c.Action+" "+strings.TrimPrefix(c.Target, string(s.Root)))
	}
	if err := plan.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	return out
}

// put writes a file of the fake node, with its parents.
func put(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	testenv.MkdirAll(t, filepath.Dir(path), 0o755)
	testenv.WriteFile(t, path, []byte(data), mode)
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestHooksStepCopiesEnrootsSlurmHooks(t *testing.T) {
	root := enrootRoot(t)
	s := hooksStep(root, config.Default().Enroot.Hooks)
	got := run(t, s)
	want := []string{"write /etc/enroot/hooks.d/50-slurm-pmi.sh", "write /etc/enroot/hooks.d/50-slurm-pytorch.sh"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("changes %q, want %q", got, want)
	}
	pmi := filepath.Join(root, HooksDir, "50-slurm-pmi.sh")
	text := read(t, pmi)
	lines := strings.SplitN(text, "\n", 3)
	if lines[0] != "#! /usr/bin/env bash" || !strings.HasPrefix(lines[1], hookMarker+"/usr/share/enroot/hooks.d/50-slurm-pmi.sh") ||
		lines[2] != strings.SplitN(pkgrepo.FixtureHook("50-slurm-pmi.sh"), "\n", 2)[1] {
		t.Fatalf("the agent's copy is not Enroot's file with the marker below its shebang:\n%s", text)
	}
	if st, _ := os.Stat(pmi); st.Mode().Perm() != 0o755 {
		t.Fatalf("mode %v: enroot runs only executable hooks", st.Mode())
	}
	if got := run(t, s); len(got) != 0 {
		t.Fatalf("second run changes %q", got)
	}
	if r := hooksResult(config.Root(root), s.Hooks); r.Status != verify.OK || r.Message != "enroot runs 50-slurm-pmi.sh, 50-slurm-pytorch.sh from /etc/enroot/hooks.d" {
		t.Fatalf("check: %+v", r)
	}

	// An Enroot upgrade brings a new hook: the agent's copy follows it.
	put(t, filepath.Join(root, HookSource, "50-slurm-pmi.sh"), "#!/bin/sh\necho new\n", 0o755)
	if r := hooksResult(config.Root(root), s.Hooks); r.Status != verify.Fail {
		t.Fatalf("check with a stale copy: %+v", r)
	}
	if got := run(t, s); len(got) != 1 || !strings.Contains(read(t, pmi), "echo new") {
		t.Fatalf("after an upgrade: changes %q, file %q", got, read(t, pmi))
	}
	// Turning one off removes the agent's copy and keeps the other.
	s.Hooks = map[string]bool{"50-slurm-pmi.sh": true, "50-slurm-pytorch.sh": false}
	if got := run(t, s); strings.Join(got, ",") != "remove /etc/enroot/hooks.d/50-slurm-pytorch.sh" {
		t.Fatalf("turning the pytorch hook off: %q", got)
	}
	if _, err := os.Stat(pmi); err != nil {
		t.Fatal(err)
	}
}

// A hook the agent did not write is left alone, whether the config turns it
// on or off, and the check names it without failing the node.
func TestHooksStepLeavesForeignHooksAlone(t *testing.T) {
	root := enrootRoot(t)
	dir := filepath.Join(root, HooksDir)
	pmi, pytorch := filepath.Join(dir, "50-slurm-pmi.sh"), filepath.Join(dir, "50-slurm-pytorch.sh")
	// As ParallelCluster's cookbook does: a plain copy of Enroot's file;
	// and a site's own PyTorch hook, which the config turns off.
	put(t, pmi, pkgrepo.FixtureHook("50-slurm-pmi.sh"), 0o755)
	put(t, pytorch, "#!/bin/sh\n# site patch\n", 0o755)
	s := hooksStep(root, map[string]bool{"50-slurm-pmi.sh": true, "50-slurm-pytorch.sh": false})
	if got := run(t, s); len(got) != 0 {
		t.Fatalf("the agent changed hooks it did not write: %q", got)
	}
	if read(t, pytorch) != "#!/bin/sh\n# site patch\n" || read(t, pmi) != pkgrepo.FixtureHook("50-slurm-pmi.sh") {
		t.Fatal("a foreign hook was rewritten")
	}
	r := hooksResult(config.Root(root), s.Hooks)
	for _, want := range []string{
		"50-slurm-pmi.sh (identical to Enroot's own; enroot.hooks turns it on)",
		"50-slurm-pytorch.sh (differs from Enroot's /usr/share/enroot/hooks.d/50-slurm-pytorch.sh; enroot.hooks does not turn it on, yet enroot runs it)",
	} {
		if r.Status != verify.OK || !strings.Contains(r.Message, want) || r.Fix == "" {
			t.Fatalf("check does not report %q as ok with a fix: %+v", want, r)
		}
	}
	// Removing the file hands the hook to the agent.
	if err := os.Remove(pmi); err != nil {
		t.Fatal(err)
	}
	if got := run(t, s); len(got) != 1 || !hasMarker([]byte(read(t, pmi))) {
		t.Fatalf("after the admin removed their copy: %q", got)
	}
}

// The agent's own copy, edited in place, is put back: like enroot.conf,
// the config is where hooks are set.
func TestHooksStepRestoresEditedCopy(t *testing.T) {
	root := enrootRoot(t)
	s := hooksStep(root, config.Default().Enroot.Hooks)
	run(t, s)
	pmi := filepath.Join(root, HooksDir, "50-slurm-pmi.sh")
	want := read(t, pmi)
	if err := os.WriteFile(pmi, []byte(want+"echo edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := hooksResult(config.Root(root), s.Hooks); r.Status != verify.Fail || !strings.Contains(r.Message, "50-slurm-pmi.sh is on but") {
		t.Fatalf("check on an edited copy: %+v", r)
	}
	if got := run(t, s); len(got) != 1 || read(t, pmi) != want {
		t.Fatalf("edited copy: changes %q, file %q", got, read(t, pmi))
	}
}

func TestHookMissingFromEnrootIsAnError(t *testing.T) {
	root := enrootRoot(t)
	s := hooksStep(root, map[string]bool{"50-sharp.sh": true})
	_, err := s.Plan(context.Background())
	if err == nil || !strings.Contains(err.Error(), "/usr/share/enroot/hooks.d/50-sharp.sh") {
		t.Fatalf("plan: %v, want the missing file named", err)
	}
	if r := hooksResult(config.Root(root), s.Hooks); r.Status != verify.Fail {
		t.Fatalf("check: %+v", r)
	}
	// Off, a hook Enroot does not ship is nothing to do.
	if got := run(t, hooksStep(root, map[string]bool{"50-sharp.sh": false})); len(got) != 0 {
		t.Fatalf("changes %q", got)
	}
}

// Before Enroot's first install (a dry run, a check) the copy is planned,
// not an error; applying it then says why it cannot be done.
func TestHooksBeforeEnrootIsInstalled(t *testing.T) {
	root := t.TempDir()
	s := hooksStep(root, config.Default().Enroot.Hooks)
	plan, err := s.Plan(context.Background())
	if err != nil || len(plan.Changes) != 2 || !strings.Contains(plan.Changes[0].Target, "once Enroot is installed") {
		t.Fatalf("plan %+v, %v", plan, err)
	}
	if err := plan.Apply(context.Background()); err == nil || !strings.Contains(err.Error(), "Enroot is not installed") {
		t.Fatalf("apply: %v", err)
	}
	if r := hooksResult(config.Root(root), s.Hooks); r.Status != verify.Fail || !strings.Contains(r.Message, "Enroot is not installed") {
		t.Fatalf("check: %+v", r)
	}
}

func TestWithMarker(t *testing.T) {
	for in, want := range map[string]string{
		"#!/bin/sh\necho\n": "#!/bin/sh\n" + hookMarker + "S (enroot.hooks in the agent's config); local edits are overwritten\necho\n",
		"echo\n":            hookMarker + "S (enroot.hooks in the agent's config); local edits are overwritten\necho\n",
	} {
		got := string(withMarker([]byte(in), "S"))
		if got != want || !hasMarker([]byte(got)) {
			t.Errorf("withMarker(%q) = %q, want %q", in, got, want)
		}
	}
	if hasMarker([]byte("#!/bin/sh\n\n\n" + hookMarker + "x\n")) {
		t.Error("a marker below the third line counts")
	}
}
