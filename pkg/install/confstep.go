package install

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/accel"
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
	return &converge.File{StepName: s.Name(), Path: s.Node.Root.Path(EnrootConfPath), Opts: atomicfile.Default}
}

// content is the enroot.conf the agent wants. It is checked with `bash -n`
// (CheckedConf) unless the file already holds exactly this text: nothing
// will be written then, and a warm apply should start no process
// (BENCHMARKS.md, warm converge).
func (s *ConfStep) content(ctx context.Context) ([]byte, string, error) {
	conf, warn, err := s.conf()
	if err != nil {
		return nil, "", err
	}
	data := formatConf(conf)
	if old, err := os.ReadFile(s.Node.Root.Path(EnrootConfPath)); err == nil && bytes.Equal(old, data) {
		return data, warn, nil
	}
	data, err = CheckedConf(ctx, conf)
	return data, warn, err
}

// conf is Conf with the keys this node's devices need laid over it
// (accel.ConfKeys: an EFA node's ENROOT_RESTRICT_DEV), and a warning when
// that overrides the config.
func (s *ConfStep) conf() (map[string]string, string, error) {
	keys, warn, err := accel.ConfKeys(s.Node.Root, s.Conf)
	if err != nil || len(keys) == 0 {
		return s.Conf, "", err
	}
	conf := maps.Clone(s.Conf)
	maps.Copy(conf, keys)
	return conf, warn, nil
}

func (s *ConfStep) Plan(ctx context.Context) (*converge.Plan, error) {
	data, warn, err := s.content(ctx)
	if err != nil {
		return nil, err
	}
	write, err := s.file().PlanContent(data)
	if err != nil || write.Done() {
		return write, err
	}
	apply := func(ctx context.Context) error {
		if warn != "" {
			s.Node.Log.Warn(warn)
		}
		return s.apply(ctx, write, data)
	}
	old, err := os.ReadFile(s.Node.Root.Path(EnrootConfPath))
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
	backup := s.Node.Root.Path(EnrootConfPath + BackupSuffix)
	if _, err := os.Lstat(backup); errors.Is(err, fs.ErrNotExist) {
		changes = append([]converge.Change{{Action: "backup", Target: s.Node.Root.Path(EnrootConfPath) + " -> " + backup}}, changes...)
	}
	return converge.NewPlan(reason, changes, apply), nil
}

// apply keeps the replaced file once as enroot.conf.agent-backup (later
// replacements are logged only: the first copy is the one an admin wants
// back), then writes the rendered file.
func (s *ConfStep) apply(ctx context.Context, write *converge.Plan, data []byte) error {
	path := s.Node.Root.Path(EnrootConfPath)
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
