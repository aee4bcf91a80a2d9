package credentials

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"go.uber.org/zap"
)

// Status is a snapshot for systemd STATUS=, verify and metrics. It holds no secret.
type Status struct {
	Registries   []RegistryStatus
	LastAttempt  time.Time
	LastSuccess  time.Time
	LastError    string    // free of secrets; "" when the last attempt succeeded
	FailingSince time.Time // zero when healthy
	// ConsecutiveFailures counts the failed refreshes since FailingSince.
	ConsecutiveFailures int `json:",omitempty"`
	NextRefresh         time.Time
	// Refreshes by this process: Prometheus counters start at 0 with the
	// process, so they are neither recorded nor resumed.
	Successes uint64 `json:"-"`
	Failures  uint64 `json:"-"`
}

// RegistryStatus is what is known about one registry's token, without the token.
type RegistryStatus struct {
	Host        string
	ExpiresAt   time.Time // zero when no valid token is held
	Fingerprint string    // secret.Secret.Fingerprint() of the token held
}

// statusPath is where the last refresh's Status is kept for `verify` and for
// the next process: fingerprints and times only, never a token.
func statusPath(cfg config.Config, root config.Root) string {
	return filepath.Join(root.Path(cfg.StateDir), "credentials-status.json")
}

// readStatus reads what the last refresh recorded.
func readStatus(path string) (Status, error) {
	var s Status
	data, err := atomicfile.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return s, fmt.Errorf("no refresh has run on this node yet (%s is missing)", path)
		}
		return s, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Status returns a snapshot; it holds no secret.
func (r *Refresher) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.status
	s.Registries = append([]RegistryStatus(nil), s.Registries...)
	return s
}

// record updates the status after a refresh.
func (r *Refresher) record(start time.Time, err error) {
	r.mu.Lock()
	s := &r.status
	s.LastAttempt = start
	if err == nil {
		r.failures, s.ConsecutiveFailures = 0, 0
		s.LastSuccess, s.LastError, s.FailingSince = start, "", time.Time{}
		s.Successes++
	} else {
		if r.failures == 0 {
			s.FailingSince = start
		}
		r.failures++
		s.ConsecutiveFailures = r.failures
		s.LastError = err.Error()
		s.Failures++
	}
	r.noteHeld()
	r.mu.Unlock()
}

// Notify has f called after every refresh of the tokens or the secrets
// (the schedule's included) has recorded its outcome and next time: the
// daemon then shows the new Status at once rather than polling for it.
// f must not block.
func (r *Refresher) Notify(f func()) {
	r.mu.Lock()
	r.changed = f
	r.mu.Unlock()
}

func (r *Refresher) notify() {
	r.mu.Lock()
	f := r.changed
	r.mu.Unlock()
	if f != nil {
		f()
	}
}

// persist records the status for verify and the next process, once the next
// refresh time is known.
func (r *Refresher) persist() {
	r.mu.Lock()
	data, _ := json.MarshalIndent(r.status, "", "  ")
	r.mu.Unlock()
	// The state dir is root's alone (0700), as the state-dir step keeps it.
	_, werr := atomicfile.EnsureDir(filepath.Dir(r.statePath), atomicfile.Options{Mode: 0o700, UID: -1, GID: -1})
	if werr == nil {
		_, werr = atomicfile.Write(r.statePath, append(data, '\n'), atomicfile.Options{Mode: 0o600, UID: -1, GID: -1})
	}
	if werr != nil {
		r.log.Warn("cannot record the refresh status; verify will not see it", zap.Error(werr))
	}
}

// noteHeld lists the tokens held now in the status. Callers hold r.mu.
func (r *Refresher) noteHeld() {
	s := &r.status
	s.Registries = s.Registries[:0]
	for _, h := range r.hosts() {
		rs := RegistryStatus{Host: h}
		if tok, ok := r.held[h]; ok {
			rs.ExpiresAt, rs.Fingerprint = tok.ExpiresAt, tok.Password.Fingerprint()
		}
		s.Registries = append(s.Registries, rs)
	}
}
