package pyxis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
	"go.uber.org/zap"
)

// RestartedFile records, per node, the plugin and plugstack lines slurmd was
// last (re)started with.
const RestartedFile = "pyxis-slurmd-restarted"

// RestartStep restarts slurmd when the plugin it should load, or the
// plugstack line loading it, differs from what it was last started with.
// The record is per node: on a shared /opt/slurm, the node that edited the
// plugstack and every other node each restart their own slurmd once.
type RestartStep struct {
	Cfg      config.Pyxis
	Root     config.Root
	StateDir string
	Log      *zap.Logger
	// Connect reaches systemd; slurm.DefaultConnect in production.
	Connect func(ctx context.Context) (slurm.UnitManager, error)
	// Env, when set, is the PATH the agent keeps in slurmd's environment
	// (fingerprint, below): slurmd reads it only when it starts, so a
	// change to it needs the same restart.
	Env *slurm.PathStep
	// Warned keeps a pending restart from being logged at every converge;
	// nil logs it every time.
	Warned *RestartWarnings
}

func (s *RestartStep) Name() string { return StepRestart }

func (s *RestartStep) Requires() []string {
	req := []string{StepPlugstack}
	if s.Cfg.Install {
		req = []string{StepBuild, StepPlugstack}
	}
	if s.Env != nil {
		req = append(req, slurm.StepSlurmdPath)
	}
	return req
}

// Plan compares what slurmd should load with what it was last started with.
// Without systemd (a container, a chroot) there is no slurmd for the agent to
// restart: it says so in the log with the command to run, records nothing,
// and `enroot-agent verify` keeps reporting the pending restart. --root does
// not change which bus is used: DBUS_SYSTEM_BUS_ADDRESS does.
func (s *RestartStep) Plan(ctx context.Context) (*converge.Plan, error) {
	fp, err := s.fingerprint()
	if err != nil {
		return nil, err
	}
	if last, _ := os.ReadFile(s.recordPath()); strings.TrimSpace(string(last)) == fp {
		return &converge.Plan{}, nil
	}
	m, state, err := s.state(ctx)
	if errors.Is(err, slurm.ErrNoSystemd) {
		return s.withoutSystemd(fp, err), nil
	}
	if err != nil {
		return nil, err
	}
	m.Close()
	// An activating slurmd is not restarted: at boot it waits, ordered after
	// the agent, and reads the plugstack as it starts; an inactive one was
	// stopped, or is not started yet. A failed one is started: slurmd loads
	// the plugstack as it starts and refuses to start with a Pyxis built for
	// another Slurm (what a Slurm upgrade under the node leaves), so nothing
	// else brings it back once the plugin is rebuilt.
	switch state {
	case "active", "reloading":
		return converge.NewPlan("slurmd runs an older Pyxis or plugstack",
			[]converge.Change{{Action: "restart", Target: slurm.SlurmdUnit}},
			func(ctx context.Context) error { return s.apply(ctx, fp, true) }), nil
	case "failed":
		return converge.NewPlan("slurmd failed, and the Pyxis or plugstack it would load changed",
			[]converge.Change{{Action: "restart", Target: slurm.SlurmdUnit}},
			func(ctx context.Context) error { return s.apply(ctx, fp, true) }), nil
	}
	// Nothing is left to do but record it: verify passes at once.
	return converge.Satisfied("slurmd is "+state+"; it loads the new Pyxis when it starts",
		[]converge.Change{{Action: "write", Target: s.recordPath()}},
		func(ctx context.Context) error { return s.apply(ctx, fp, false) }), nil
}

// apply restarts slurmd when it runs or failed (an inactive one loads the
// new Pyxis when it starts), then records the fingerprint it now runs with.
func (s *RestartStep) apply(ctx context.Context, fingerprint string, restart bool) error {
	if restart || s.reloadFirst() {
		m, err := s.Connect(ctx)
		if err != nil {
			return err
		}
		defer m.Close()
		if err := s.reload(ctx, m); err != nil {
			return err
		}
		if restart {
			if err := m.Restart(ctx, slurm.SlurmdUnit); err != nil {
				return err
			}
		}
	}
	_, err := atomicfile.Write(s.recordPath(), []byte(fingerprint+"\n"), atomicfile.Options{Mode: 0o600, UID: -1, GID: -1})
	return err
}

func (s *RestartStep) state(ctx context.Context) (slurm.UnitManager, string, error) {
	m, err := s.Connect(ctx)
	if err != nil {
		return nil, "", err
	}
	state, err := m.ActiveState(ctx, slurm.SlurmdUnit)
	if err != nil {
		m.Close()
		return nil, "", err
	}
	return m, state, nil
}

func (s *RestartStep) recordPath() string {
	return s.Root.Path(filepath.Join(s.StateDir, RestartedFile))
}

// Fingerprint is what slurmd would load for Pyxis now: the plugin's digest
// and every plugstack line that loads it.
func Fingerprint(root config.Root, cfg config.Pyxis) (string, error) {
	sum, err := pluginSum(root.Path(filepath.Join(cfg.Libdir, PluginName)))
	if err != nil {
		return "", err
	}
	stack, err := Walk(root, cfg.Plugstack)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintln(h, sum)
	for _, l := range stack.Plugins(PluginName) {
		fmt.Fprintln(h, l.String())
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// The PATH the agent keeps in slurmd's environment (slurm.PathStep) is
// read by slurmd only when it starts, like the plugin and its plugstack
// line: it joins what slurmd must have been started with, so the one
// restart path covers it.

// fingerprint is Fingerprint plus the agent's PATH line for slurmd, when
// it keeps one. Without one it is Fingerprint unchanged: a node whose
// slurmd already had Slurm's bin on its PATH is not restarted for it.
func (s *RestartStep) fingerprint() (string, error) {
	fp, err := Fingerprint(s.Root, s.Cfg)
	if err != nil || s.Env == nil {
		return fp, err
	}
	file, line, err := s.Env.Managed()
	if err != nil || line == "" {
		return fp, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", fp, file, line)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// reloadFirst reports a drop-in of the agent's: systemd must reread the
// unit before it starts slurmd, restarted now or started later.
func (s *RestartStep) reloadFirst() bool {
	if s.Env == nil {
		return false
	}
	file, _, err := s.Env.Managed()
	return err == nil && file == slurm.PathDropIn
}

func (s *RestartStep) reload(ctx context.Context, m slurm.UnitManager) error {
	if !s.reloadFirst() {
		return nil
	}
	return m.Reload(ctx)
}

// lastChange is when anything slurmd reads at start last changed: the
// plugin, its plugstack files, or the agent's PATH for it.
func (s *RestartStep) lastChange() (time.Time, error) {
	changed, err := LastChange(s.Root, s.Cfg)
	if err != nil || s.Env == nil {
		return changed, err
	}
	if t := s.Env.Changed(); t.After(changed) {
		changed = t
	}
	return changed, nil
}

// RestartWarnings remembers the fingerprint already reported as "restart it
// yourself": the daemon builds its steps anew for every converge and check,
// and one warning per change is what an admin needs in the journal. The
// daemon holds one per config and gives it to every RestartStep it builds.
type RestartWarnings struct {
	mu   sync.Mutex
	last string
}

// first reports whether fp is not the fingerprint last warned about, and
// remembers it. On a nil *RestartWarnings every call is the first.
func (w *RestartWarnings) first(fp string) bool {
	if w == nil {
		return true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := w.last == fp
	w.last = fp
	return !seen
}

// withoutSystemd is the plan when no systemd answers (a container, a
// chroot): a slurmd that is not running, or was restarted by hand since the
// plugin changed (its start time says so), only needs the record; otherwise
// the restart is pending, which apply and verify both say until it happens.
// Once slurmd runs the current plugin, the plan only records that: verify
// passes at once, without waiting for a converge to write the record.
func (s *RestartStep) withoutSystemd(fp string, cause error) *converge.Plan {
	started, running, err := slurm.SlurmdStarted(s.Root)
	if err == nil {
		changed, cerr := s.lastChange()
		if cerr == nil && (!running || !startedBefore(started, changed)) {
			return converge.Satisfied("slurmd already runs the current Pyxis, or is not running (no systemd to ask)",
				[]converge.Change{{Action: "write", Target: s.recordPath()}},
				func(ctx context.Context) error { return s.apply(ctx, fp, false) })
		}
	}
	why := "slurmd must be restarted to load the new Pyxis, and " + cause.Error() + ": run systemctl restart slurmd"
	return converge.NewPlan("restart pending: "+why,
		[]converge.Change{{Action: "restart", Target: slurm.SlurmdUnit + " (pending: no systemd reachable)"}},
		func(context.Context) error {
			s.warnOnce(fp, cause)
			return &converge.PendingError{Why: why}
		})
}

func (s *RestartStep) warnOnce(fp string, err error) {
	if !s.Warned.first(fp) {
		return
	}
	s.Log.Warn("cannot restart slurmd: "+err.Error(), zap.String("fix", "restart slurmd yourself so it loads the new Pyxis: systemctl restart slurmd"))
}
