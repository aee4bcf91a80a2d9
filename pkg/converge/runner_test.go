package converge

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// fake is a step whose plan and apply are set by the table.
type fake struct {
	name     string
	planErr  error
	applyErr error
	changes  int
	requires []string
	applied  *int
}

func (f *fake) Name() string       { return f.name }
func (f *fake) Requires() []string { return f.requires }
func (f *fake) Plan(context.Context) (*Plan, error) {
	var changes []Change
	for i := 0; i < f.changes; i++ {
		changes = append(changes, Change{Action: "run", Target: f.name})
	}
	return NewPlan("test", changes, f.apply), f.planErr
}
func (f *fake) apply(context.Context) error { *f.applied++; return f.applyErr }

func TestRunnerOutcomes(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	applied := 0
	boom := errors.New("boom")
	steps := []Step{
		&fake{name: "done", applied: &applied},
		&fake{name: "fetch", changes: 1, applyErr: boom, applied: &applied},
		&fake{name: "build", changes: 1, requires: []string{"fetch"}, applied: &applied},
		&fake{name: "conf", changes: 2, applied: &applied},
		&fake{name: "probe", planErr: boom, applied: &applied},
	}
	rep := (&Runner{Log: zap.New(core)}).Run(context.Background(), steps)
	want := []Outcome{Done, Failed, Blocked, Changed, Failed}
	for i, res := range rep.Results {
		if res.Outcome != want[i] {
			t.Errorf("%s: %s, want %s", res.Step, res.Outcome, want[i])
		}
	}
	if applied != 2 {
		t.Fatalf("applied %d steps, want 2 (fetch and conf)", applied)
	}
	err := rep.Err()
	for _, s := range []string{"fetch: boom", "build: not attempted: required step fetch", "probe: boom"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("report error %v lacks %q", err, s)
		}
	}
	if logs.FilterMessage("step failed").Len() != 2 || logs.FilterMessage("step done").Len() != 1 {
		t.Fatalf("log lines: %v", logs.All())
	}
}

func TestDryRunAppliesNothing(t *testing.T) {
	dir := t.TempDir()
	applied := 0
	f := &File{StepName: "f", Path: filepath.Join(dir, "a.conf"), Opts: atomicfile.Default,
		Render: func() ([]byte, error) { return []byte("x=1\n"), nil }}
	rep := (&Runner{Log: zap.NewNop(), DryRun: true}).Run(context.Background(), []Step{f, &fake{name: "c", changes: 1, applied: &applied}})
	if rep.Results[0].Outcome != Planned || rep.Results[1].Outcome != Planned || applied != 0 {
		t.Fatalf("dry run: %+v applied=%d", rep.Results, applied)
	}
	if _, err := os.Stat(f.Path); !os.IsNotExist(err) {
		t.Fatal("dry run wrote the file")
	}
	if d := rep.Results[0].Plan.Changes[0].Diff; !strings.Contains(d, "+x=1") {
		t.Fatalf("diff %q", d)
	}
}

func TestFileStepConvergesOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "a.conf")
	testenv.MkdirAll(t, filepath.Dir(path), 0o755)
	testenv.WriteFile(t, path, []byte("old\n"), 0o644)
	f := &File{StepName: "f", Path: path, Opts: atomicfile.Default,
		Render: func() ([]byte, error) { return []byte("new\n"), nil }}
	r := &Runner{Log: zap.NewNop()}
	first := r.Run(context.Background(), []Step{f})
	if d := first.Results[0].Plan.Changes[0].Diff; first.Results[0].Outcome != Changed || !strings.Contains(d, "-old") || !strings.Contains(d, "+new") {
		t.Fatalf("first: %+v", first.Results[0])
	}
	if second := r.Run(context.Background(), []Step{f}); second.Results[0].Outcome != Done {
		t.Fatalf("second: %+v", second.Results[0])
	}
}

// slow is a step that takes d to apply, and may run early.
type slow struct {
	fake
	d     time.Duration
	early bool
}

func (s *slow) RunsEarly() bool { return s.early }
func (s *slow) Plan(ctx context.Context) (*Plan, error) {
	p, err := s.fake.Plan(ctx)
	return NewPlan(p.Reason, p.Changes, func(ctx context.Context) error {
		time.Sleep(s.d)
		return s.fake.apply(ctx)
	}), err
}

// Under synctest the steps' sleeps run on the bubble's clock, which moves
// only when every goroutine waits: the early fetch overlaps the install
// exactly (300ms for both, not 600ms), however loaded the machine is.
func TestRunnerStartsEarlyStepsBesideTheOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var applied [4]int // one counter per step: the early one runs in another goroutine
		install := &slow{fake: fake{name: "install", changes: 1, applied: &applied[0]}, d: 300 * time.Millisecond}
		fetch := &slow{fake: fake{name: "fetch", changes: 1, applied: &applied[1]}, d: 300 * time.Millisecond, early: true}
		build := &fake{name: "build", changes: 1, requires: []string{"fetch"}, applied: &applied[2]}
		start := time.Now()
		rep := (&Runner{Log: zap.NewNop()}).Run(context.Background(), []Step{install, fetch, build})
		if took := time.Since(start); took != 300*time.Millisecond {
			t.Fatalf("the early fetch did not overlap the install: %s, want 300ms", took)
		}
		var got []string
		for _, r := range rep.Results {
			got = append(got, r.Step+" "+string(r.Outcome))
		}
		if strings.Join(got, ", ") != "install changed, fetch changed, build changed" || applied != [4]int{1, 1, 1, 0} {
			t.Fatalf("report %v, %d applied", got, applied)
		}
		// A failed early step blocks the steps requiring it, as at its turn.
		fetch.applyErr = errors.New("404")
		rep = (&Runner{Log: zap.NewNop()}).Run(context.Background(), []Step{install, fetch, build})
		if rep.Results[1].Outcome != Failed || rep.Results[2].Outcome != Blocked {
			t.Fatalf("after a failed early fetch: %+v", rep.Results)
		}
		// A dry run, or a step that requires another, does not start early.
		start = time.Now()
		(&Runner{Log: zap.NewNop()}).Run(context.Background(), []Step{install, &slow{fake: fake{name: "late", changes: 1, requires: []string{"install"}, applied: &applied[3]}, d: 300 * time.Millisecond, early: true}})
		if took := time.Since(start); took != 600*time.Millisecond {
			t.Fatalf("a step with requirements ran early: %s, want 600ms one after the other", took)
		}
	})
}

// A step requiring a name no earlier step has fails, and is not applied:
// an unknown name must not count as "did not fail".
func TestRunnerRefusesUnknownRequirement(t *testing.T) {
	applied := 0
	steps := []Step{
		&fake{name: "fetch", changes: 1, applied: &applied},
		&fake{name: "build", changes: 1, requires: []string{"fecth"}, applied: &applied},
		&fake{name: "first", changes: 1, requires: []string{"last"}, applied: &applied},
		&fake{name: "last", changes: 1, applied: &applied},
	}
	rep := (&Runner{Log: zap.NewNop()}).Run(context.Background(), steps)
	want := []Outcome{Changed, Failed, Failed, Changed}
	for i, res := range rep.Results {
		if res.Outcome != want[i] {
			t.Errorf("%s: %s, want %s", res.Step, res.Outcome, want[i])
		}
	}
	if applied != 2 {
		t.Fatalf("applied %d steps, want 2", applied)
	}
	err := rep.Err()
	for _, s := range []string{`build: requires step "fecth", which is not among the steps before it`, `first: requires step "last"`} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("report error %v lacks %q", err, s)
		}
	}
}

// A file that does not exist yet diffs from nothing: no blank context line,
// and the hunk counts only the new lines.
func TestDiffOfNewFile(t *testing.T) {
	got := unifiedDiff("/etc/x.conf", nil, []byte("a\nb\nc\n"))
	want := "--- /etc/x.conf\n+++ /etc/x.conf\n@@ -0,0 +1,3 @@\n+a\n+b\n+c\n"
	if got != want {
		t.Fatalf("diff:\n%s\nwant:\n%s", got, want)
	}
	got = unifiedDiff("/etc/x.conf", []byte("a\nb\n"), []byte("a\nB\n"))
	want = "--- /etc/x.conf\n+++ /etc/x.conf\n@@ -1,2 +1,2 @@\n a\n-b\n+B\n"
	if got != want {
		t.Fatalf("diff:\n%s\nwant:\n%s", got, want)
	}
}
