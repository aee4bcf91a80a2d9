package pyxis

import (
	"context"
	"sync"

	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
	"go.uber.org/zap"
)

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
