package install

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
)

// SysctlFile is the drop-in that keeps Enroot's kernel settings across boots.
const SysctlFile = "/etc/sysctl.d/90-enroot-agent.conf"

// Namespaces are the limits Enroot needs non-zero, at the value Enroot's own
// README and DeepOps use.
var Namespaces = []Sysctl{
	{Key: "user.max_user_namespaces", Want: 65536},
	{Key: "user.max_mnt_namespaces", Want: 65536},
}

// Sysctl is one kernel setting.
type Sysctl struct {
	Key  string
	Want int64
}

// ProcPath is where the live value is read and written, under /proc/sys.
func (s Sysctl) ProcPath() string { return "/proc/sys/" + strings.ReplaceAll(s.Key, ".", "/") }

// ReadSysctl returns the live value; ok is false when the kernel (or the
// re-rooted /proc) does not have the setting.
func ReadSysctl(root config.Root, s Sysctl) (int64, bool, error) {
	data, err := os.ReadFile(root.Path(s.ProcPath()))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	return v, err == nil, err
}

// SysctlStep writes the drop-in and raises live values that are too low. It
// never lowers a live value an admin set higher.
type SysctlStep struct{ Node *Node }

func (s *SysctlStep) Name() string { return StepSysctl }

func sysctlContent() []byte {
	var b strings.Builder
	b.WriteString("# Managed by enroot-agent: unprivileged Enroot containers need user and mount namespaces.\n")
	for _, s := range Namespaces {
		fmt.Fprintf(&b, "%s = %d\n", s.Key, s.Want)
	}
	return []byte(b.String())
}

func (s *SysctlStep) file() *converge.File {
	return &converge.File{StepName: s.Name(), Path: s.Node.Root.Path(SysctlFile), Opts: atomicfile.Default,
		Render: func() ([]byte, error) { return sysctlContent(), nil }}
}

func (s *SysctlStep) Plan(ctx context.Context) (*converge.Plan, error) {
	file, err := s.file().Plan(ctx)
	if err != nil {
		return nil, err
	}
	reason, changes := file.Reason, file.Changes
	var low []Sysctl
	for _, sc := range Namespaces {
		v, ok, err := ReadSysctl(s.Node.Root, sc)
		if err != nil {
			return nil, err
		}
		if ok && v < sc.Want {
			low = append(low, sc)
			changes = append(changes, converge.Change{Action: "set",
				Target: fmt.Sprintf("%s=%d (now %d)", sc.Key, sc.Want, v)})
		}
	}
	if len(low) > 0 && reason == "" {
		reason = "live namespace limits are below what enroot needs"
	}
	return converge.NewPlan(reason, changes, func(ctx context.Context) error { return s.apply(ctx, file, low) }), nil
}

// apply writes the drop-in, then the live values. /proc/sys files are not
// regular files and cannot be replaced by rename, so they are written in place.
func (s *SysctlStep) apply(ctx context.Context, file *converge.Plan, low []Sysctl) error {
	if !file.Done() {
		if err := atomicfile.MkdirIfMissing(filepath.Dir(s.file().Path)); err != nil {
			return err
		}
		if err := file.Apply(ctx); err != nil {
			return err
		}
	}
	for _, sc := range low {
		path := s.Node.Root.Path(sc.ProcPath())
		if err := os.WriteFile(path, []byte(strconv.FormatInt(sc.Want, 10)+"\n"), 0o644); err != nil {
			return fmt.Errorf("set %s: %w", sc.Key, err)
		}
	}
	return nil
}
