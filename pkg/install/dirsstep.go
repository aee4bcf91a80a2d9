package install

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
)

// DirsStep creates the directories enroot.conf's paths need (ConfDirs).
type DirsStep struct {
	Node *Node
	Conf map[string]string
}

func (s *DirsStep) Name() string { return StepDirs }

// dirOpts: world-writable with the sticky bit, like /tmp, owned by root.
var dirOpts = atomicfile.Options{Mode: 0o777 | os.ModeSticky, UID: -1, GID: -1}

func (s *DirsStep) Plan(context.Context) (*converge.Plan, error) {
	var changes []converge.Change
	var todo []string
	for _, d := range ConfDirs(s.Conf) {
		path := s.Node.Root.Path(d)
		problem, err := atomicfile.DirProblem(path, dirOpts)
		if err != nil {
			return nil, err
		}
		if problem != "" {
			todo = append(todo, path)
			target := path + " (mode 1777)"
			if problem != "missing" {
				target = path + " (mode 1777, root; now " + problem + ")"
			}
			changes = append(changes, converge.Change{Action: "mkdir", Target: target})
		}
	}
	return converge.NewPlan("directories enroot.conf names are missing or have another mode or owner", changes,
		func(context.Context) error { return mkdirs(todo) }), nil
}

func mkdirs(todo []string) error {
	for _, path := range todo {
		if _, err := atomicfile.EnsureDir(path, dirOpts); err != nil {
			return err
		}
	}
	return nil
}

// TmpfilesPath recreates the /run directories at boot, before slurmd can
// start a job and before the agent's first run has made them again.
const TmpfilesPath = "/etc/tmpfiles.d/enroot-agent.conf"

// TmpfilesStep keeps the tmpfiles.d(5) drop-in for ConfDirs.
func TmpfilesStep(node *Node, conf map[string]string) converge.Step {
	path := node.Root.Path(TmpfilesPath)
	return &parentFile{File: converge.File{StepName: StepTmpfiles, Path: path, Opts: atomicfile.Default,
		Render: func() ([]byte, error) {
			var b strings.Builder
			b.WriteString("# Managed by enroot-agent: the directories /etc/enroot/enroot.conf needs, made at boot.\n")
			for _, d := range ConfDirs(conf) {
				b.WriteString("d " + d + " 1777 root root -\n")
			}
			return []byte(b.String()), nil
		}}}
}

// parentFile is a converge.File whose directory is created when missing.
type parentFile struct{ converge.File }

func (f *parentFile) Plan(ctx context.Context) (*converge.Plan, error) {
	write, err := f.File.Plan(ctx)
	if err != nil || write.Done() {
		return write, err
	}
	return converge.NewPlan(write.Reason, write.Changes, func(ctx context.Context) error {
		if err := atomicfile.MkdirIfMissing(filepath.Dir(f.Path)); err != nil {
			return err
		}
		return write.Apply(ctx)
	}), nil
}
