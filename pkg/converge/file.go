package converge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/pmezard/go-difflib/difflib"
)

// File is a step that keeps one file's content, mode and owner.
type File struct {
	StepName string
	Path     string // already re-rooted
	Opts     atomicfile.Options
	// Render produces the wanted content; it runs at every Plan.
	Render func() ([]byte, error)
}

func (f *File) Name() string { return f.StepName }

// Plan renders the content and compares it with the file on disk.
func (f *File) Plan(context.Context) (*Plan, error) {
	data, err := f.Render()
	if err != nil {
		return nil, err
	}
	return f.PlanContent(data)
}

// PlanContent compares data, already rendered, with the file on disk; the
// plan writes exactly data. Steps that need the content too (enroot.conf's
// key diff) render it once and call this.
func (f *File) PlanContent(data []byte) (*Plan, error) {
	same, err := atomicfile.Matches(f.Path, data, f.Opts)
	if err != nil || same {
		return &Plan{}, err
	}
	old, err := os.ReadFile(f.Path)
	reason := "content, mode or owner differs"
	switch {
	case errors.Is(err, fs.ErrNotExist):
		reason = "file is missing"
	case bytes.Equal(old, data) && atomicfile.LeftoverTemps(f.Path) > 0:
		reason = "a temp file an interrupted write left behind is still there"
	}
	changes := []Change{{Action: "write", Target: f.Path, Diff: f.diff(old, data)}}
	return NewPlan(reason, changes, func(context.Context) error {
		_, err := atomicfile.Write(f.Path, data, f.Opts)
		return err
	}), nil
}

func (f *File) diff(old, data []byte) string {
	d := unifiedDiff(f.Path, old, data)
	if d == "" {
		return "(mode or owner only)\n"
	}
	return d
}

// DiffFile is the unified diff a dry run shows for writing want to path.
func DiffFile(path string, want []byte) string {
	old, _ := os.ReadFile(path)
	return unifiedDiff(path, old, want)
}

func unifiedDiff(path string, old, want []byte) string {
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: splitLines(string(old)), B: splitLines(string(want)),
		FromFile: path, ToFile: path, Context: 3,
	})
	return d
}

// splitLines keeps each line's newline and adds none: difflib's own
// SplitLines turns "" into one empty line and "a\n" into two, so a new
// file's diff read @@ -1 +1,4 @@ with a blank context line.
func splitLines(s string) []string {
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	} else {
		lines[len(lines)-1] += "\n"
	}
	return lines
}

// Dir is a step that keeps one directory's existence, mode and owner.
type Dir struct {
	StepName string
	Path     string // already re-rooted
	Opts     atomicfile.Options
}

func (d *Dir) Name() string { return d.StepName }

// Plan compares the directory with what is wanted.
func (d *Dir) Plan(context.Context) (*Plan, error) {
	problem, err := atomicfile.DirProblem(d.Path, d.Opts)
	if err != nil || problem == "" {
		return &Plan{}, err
	}
	changes := []Change{{Action: "mkdir", Target: fmt.Sprintf("%s (mode %04o)", d.Path, d.Opts.Mode.Perm())}}
	// The plan creates or corrects the directory.
	return NewPlan("directory "+problem, changes, func(context.Context) error {
		_, err := atomicfile.EnsureDir(d.Path, d.Opts)
		return err
	}), nil
}
