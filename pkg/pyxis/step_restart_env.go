package pyxis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/slurm"
)

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
