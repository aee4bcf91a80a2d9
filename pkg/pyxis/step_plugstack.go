package pyxis

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"go.uber.org/zap"
)

// Plugstack is the step that wires Pyxis into Slurm's plugstack: the entry in
// plugstack.conf.d/pyxis.conf, and one include line in the main file. On a
// plugstack managed elsewhere it only checks.
type Plugstack struct {
	Cfg         config.Pyxis
	Root        config.Root
	LockTimeout time.Duration // how long to wait for other nodes; 0 means 2 minutes
	Log         *zap.Logger
}

func (p *Plugstack) Name() string { return StepPlugstack }

// Requires the build: a required line naming a missing .so would make every
// srun on the node fail.
func (p *Plugstack) Requires() []string {
	if p.Cfg.Install {
		return []string{StepBuild}
	}
	return nil
}

// wiring is what the plugstack needs, computed from what is on disk now.
type wiring struct {
	conf     []byte // the wanted pyxis.conf
	main     []byte // the wanted main plugstack; nil when it is fine
	mainOpts atomicfile.Options
}

// Plan reads the plugstack as Slurm would and lists what is missing.
func (p *Plugstack) Plan(context.Context) (*converge.Plan, error) {
	_, changes, err := p.inspect(!p.Cfg.Install)
	if err != nil || len(changes) == 0 {
		return &converge.Plan{}, err
	}
	return converge.NewPlan("Pyxis is not wired into the plugstack", changes, p.apply), nil
}

// apply re-inspects under the plugstack lock, so of many nodes converging at
// once only the first edits and the others find nothing to do. pyxis.conf is
// written before the include that makes Slurm read it.
func (p *Plugstack) apply(ctx context.Context) error {
	dir := p.Root.Path(filepath.Dir(p.Cfg.Plugstack))
	if err := atomicfile.MkdirIfMissing(dir); err != nil {
		return err
	}
	timeout := p.LockTimeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	unlock, err := lockPlugstack(ctx, dir, timeout)
	if err != nil {
		return err
	}
	defer unlock()
	w, changes, err := p.inspect(true)
	if err != nil {
		return err
	}
	if len(changes) == 0 {
		p.Log.Info("another node wired Pyxis into the shared plugstack meanwhile; nothing to write", zap.String("plugstack", p.Cfg.Plugstack))
		return nil
	}
	if err := atomicfile.MkdirIfMissing(p.Root.Path(DropInDir(p.Cfg.Plugstack))); err != nil {
		return err
	}
	if _, err := atomicfile.Write(p.Root.Path(DropInPath(p.Cfg.Plugstack)), w.conf, atomicfile.Default); err != nil {
		return err
	}
	if w.main != nil {
		_, err = atomicfile.Write(p.Root.Path(p.Cfg.Plugstack), w.main, w.mainOpts)
	}
	return err
}

// inspect computes the wanted files from what is on disk. With needPlugin,
// a missing plugin is an error; a plan made before the build step ran (a dry
// run) does not need it, and Apply checks again.
func (p *Plugstack) inspect(needPlugin bool) (*wiring, []converge.Change, error) {
	entry := Entry(p.Cfg.Libdir, p.Cfg.Args)
	so := p.Root.Path(entry.Path)
	if st, err := os.Stat(so); needPlugin && (err != nil || !st.Mode().IsRegular()) {
		return nil, nil, fmt.Errorf("%s is not installed, and a required plugstack line naming a missing plugin makes every srun on the node fail; install it first (pyxis.install: true builds it)", so)
	}
	s, err := Walk(p.Root, p.Cfg.Plugstack)
	if err != nil {
		return nil, nil, err
	}
	if !p.Cfg.PlugstackManaged {
		if msg := s.Check(entry); msg != "" {
			return nil, nil, fmt.Errorf("plugstack %s is managed elsewhere (pyxis.plugstack_managed: false) and %s; on the node that manages it, add %q to it or to a file it includes", p.Cfg.Plugstack, msg, entry.String())
		}
		return nil, nil, nil
	}
	own := DropInPath(p.Cfg.Plugstack)
	c := foreignPyxis(s.Lines, own)
	if !s.Reaches(own) {
		dormant, err := dormantPyxis(p.Root, p.Cfg.Plugstack, own)
		if err != nil {
			return nil, nil, err
		}
		c = append(c, dormant...)
	}
	if len(c) > 0 {
		return nil, nil, fmt.Errorf("Pyxis is already loaded (or would be, once the agent's include is added) by a plugstack line the agent did not write (%s); loading it twice makes srun fail: remove that line, or set pyxis.plugstack_managed: false to keep it", strings.Join(c, "; "))
	}
	w := &wiring{conf: ConfContent(entry)}
	var changes []converge.Change
	if same, err := atomicfile.Matches(p.Root.Path(own), w.conf, atomicfile.Default); err != nil {
		return nil, nil, err
	} else if !same {
		changes = append(changes, converge.Change{Action: "write", Target: p.Root.Path(own), Diff: converge.DiffFile(p.Root.Path(own), w.conf)})
	}
	if !s.Reaches(own) {
		if w.main, w.mainOpts, err = p.withInclude(); err != nil {
			return nil, nil, err
		}
		changes = append(changes, converge.Change{Action: "write", Target: p.Root.Path(p.Cfg.Plugstack), Diff: converge.DiffFile(p.Root.Path(p.Cfg.Plugstack), w.main)})
	}
	return w, changes, nil
}

// withInclude renders the main plugstack with the include added, keeping the
// file's mode and owner (it belongs to the head node's administrator).
func (p *Plugstack) withInclude() ([]byte, atomicfile.Options, error) {
	path := p.Root.Path(p.Cfg.Plugstack)
	opts := atomicfile.Default
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return AddInclude(nil, IncludePattern(p.Cfg.Plugstack)), opts, nil
	}
	if err != nil {
		return nil, opts, err
	}
	if st, err := os.Stat(path); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			opts = atomicfile.Options{Mode: st.Mode().Perm(), UID: int(sys.Uid), GID: int(sys.Gid)}
		}
	}
	return AddInclude(data, IncludePattern(p.Cfg.Plugstack)), opts, nil
}
