package converge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

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
	// Secret hides the content from the dry-run diff.
	Secret bool
}

func (f *File) Name() string { return f.StepName }

// Plan renders the content and compares it with the file on disk.
func (f *File) Plan(context.Context) (*Plan, error) {
	data, err := f.Render()
	if err != nil {
		return nil, err
	}
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
	return &Plan{
		Reason:  reason,
		Changes: []Change{{Action: "write", Target: f.Path, Diff: f.diff(old, data)}},
		State:   data,
	}, nil
}

// Apply writes the content rendered by Plan.
func (f *File) Apply(_ context.Context, p *Plan) error {
	_, err := atomicfile.Write(f.Path, p.State.([]byte), f.Opts)
	return err
}

func (f *File) diff(old, data []byte) string {
	if f.Secret {
		return "(content not shown: it holds credentials)\n"
	}
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(old)), B: difflib.SplitLines(string(data)),
		FromFile: f.Path, ToFile: f.Path, Context: 3,
	})
	if d == "" {
		return "(mode or owner only)\n"
	}
	return d
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
	return &Plan{
		Reason:  "directory " + problem,
		Changes: []Change{{Action: "mkdir", Target: fmt.Sprintf("%s (mode %04o)", d.Path, d.Opts.Mode.Perm())}},
	}, nil
}

// Apply creates or corrects the directory.
func (d *Dir) Apply(context.Context, *Plan) error {
	_, err := atomicfile.EnsureDir(d.Path, d.Opts)
	return err
}
