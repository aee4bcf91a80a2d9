package install

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"go.uber.org/zap"
)

// BackupSuffix names the copy of the enroot.conf the agent first replaced.
const BackupSuffix = ".agent-backup"

// ConfStep keeps /etc/enroot/enroot.conf as rendered from the config. It
// runs whether or not enroot is installed yet, so images can be built in
// stages and nodes with enroot from elsewhere are configured too.
type ConfStep struct {
	Node *Node
	// Conf is the merged configuration (MergeConf).
	Conf map[string]string
}

func (s *ConfStep) Name() string { return StepConf }

func (s *ConfStep) file() *converge.File {
	return &converge.File{StepName: s.Name(), Path: s.Node.Root.Path(ConfPath), Opts: atomicfile.Default}
}

// content is the enroot.conf the agent wants. It is checked with `bash -n`
// (CheckedConf) unless the file already holds exactly this text: nothing
// will be written then, and a warm apply should start no process
// (BENCHMARKS.md, warm converge).
func (s *ConfStep) content(ctx context.Context) ([]byte, error) {
	data := formatConf(s.Conf)
	if old, err := os.ReadFile(s.Node.Root.Path(ConfPath)); err == nil && bytes.Equal(old, data) {
		return data, nil
	}
	return CheckedConf(ctx, s.Conf)
}

func (s *ConfStep) Plan(ctx context.Context) (*converge.Plan, error) {
	data, err := s.content(ctx)
	if err != nil {
		return nil, err
	}
	write, err := s.file().PlanContent(data)
	if err != nil || write.Done() {
		return write, err
	}
	apply := func(ctx context.Context) error { return s.apply(ctx, write, data) }
	old, err := os.ReadFile(s.Node.Root.Path(ConfPath))
	if errors.Is(err, fs.ErrNotExist) {
		return converge.NewPlan(write.Reason, write.Changes, apply), nil
	}
	if err != nil {
		return nil, err
	}
	reason, changes := write.Reason, write.Changes
	if keys := DiffConf(string(old), string(data)); len(keys) > 0 {
		reason = "differs from the rendered config in " + strings.Join(keys, ", ")
	}
	backup := s.Node.Root.Path(ConfPath + BackupSuffix)
	if _, err := os.Lstat(backup); errors.Is(err, fs.ErrNotExist) {
		changes = append([]converge.Change{{Action: "backup", Target: s.Node.Root.Path(ConfPath) + " -> " + backup}}, changes...)
	}
	return converge.NewPlan(reason, changes, apply), nil
}

// apply keeps the replaced file once as enroot.conf.agent-backup (later
// replacements are logged only: the first copy is the one an admin wants
// back), then writes the rendered file.
func (s *ConfStep) apply(ctx context.Context, write *converge.Plan, data []byte) error {
	path := s.Node.Root.Path(ConfPath)
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := atomicfile.MkdirIfMissing(filepath.Dir(path)); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		backup := path + BackupSuffix
		if _, err := os.Lstat(backup); errors.Is(err, fs.ErrNotExist) {
			if _, err := atomicfile.Write(backup, old, sameAs(path)); err != nil {
				return err
			}
		}
		s.Node.Log.Warn("replacing enroot.conf, which differed from the agent's config (edit the agent's config instead)",
			zap.String("path", path), zap.Strings("keys", DiffConf(string(old), string(data))),
			zap.String("backup", backup))
	}
	return write.Apply(ctx)
}

// sameAs is the mode and owner of path, for its backup: a site's 0600
// enroot.conf may hold a proxy password. 0600 root when path cannot be read.
func sameAs(path string) atomicfile.Options {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		return atomicfile.Options{Mode: 0o600, UID: -1, GID: -1}
	}
	return atomicfile.Options{Mode: os.FileMode(st.Mode & 0o777), UID: int(st.Uid), GID: int(st.Gid)}
}

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
