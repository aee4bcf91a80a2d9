package credentials

import (
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"go.uber.org/zap"
)

// Ensure refreshes only when a registry has no token or its token has less
// than ecr.refresh_before_expiry left; otherwise it leaves every file as it
// is. apply uses it, so a second apply on a converged node writes nothing
// and a rerun of the node's bootstrap does not call ECR again. attempted
// says whether a refresh was due and ECR was asked; err whether it worked.
func (r *Refresher) Ensure(ctx context.Context) (attempted bool, err error) {
	r.run.Lock()
	defer func() {
		r.run.Unlock()
		r.reschedule()
		if attempted || len(r.cfg.Secrets.Registries) > 0 {
			r.persist()
		}
	}()
	r.resume()
	regs, err := r.registries(ctx)
	if err == nil && !r.due(regs) {
		if serr := r.refreshSecrets(ctx); serr != nil {
			// Logged; the last good values are kept until secrets.max_age.
			err = serr
			r.record(r.Now(), serr)
		}
		r.expire(r.Now(), r.served(regs, true))
		// The status must show the resumed tokens: the daemon's STATUS= line,
		// verify and metrics read it.
		r.mu.Lock()
		r.noteHeld()
		r.mu.Unlock()
		return false, errors.Join(append(r.writeTargets(), err)...)
	}
	return true, r.refresh(ctx)
}

// due reports whether any registry needs a token now.
func (r *Refresher) due(regs []config.Registry) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	soon := r.Now().Add(r.cfg.ECR.RefreshBeforeExpiry.D())
	hosts := []string{}
	for _, g := range regs {
		hosts = append(hosts, g.Host)
	}
	if r.cfg.ECR.Public {
		hosts = append(hosts, config.PublicHost)
	}
	for _, h := range hosts {
		tok, ok := r.held[h]
		if !ok || !tok.ExpiresAt.After(soon) {
			return true
		}
	}
	return false
}

// resume takes back the tokens an earlier process wrote, once: a token is
// adopted only when the recorded status vouches for it (same fingerprint)
// and it has not expired. Without this, a restart during an ECR outage
// would remove tokens that are still good.
func (r *Refresher) resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.resumed || len(r.targets) == 0 {
		return
	}
	r.resumed = true
	st, netrc, err := r.recorded()
	if err != nil {
		r.log.Debug("no earlier refresh to resume", zap.Error(err))
		return
	}
	for host, tok := range vouched(st, netrc, r.Now()) {
		r.held[host] = tok
		r.log.Debug("resumed token", zap.String("registry", host), zap.Time("expires_at", tok.ExpiresAt), zap.String("fingerprint", tok.Password.Fingerprint()))
	}
	st.Registries = nil
	r.status, r.failures = st, st.ConsecutiveFailures
}

// adopt takes the tokens another process (apply, refresh) wrote since, the
// way resume does, when they outlive the ones held.
func (r *Refresher) adopt() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.targets) == 0 {
		return
	}
	st, netrc, err := r.recorded()
	if err != nil {
		return
	}
	for host, tok := range vouched(st, netrc, r.Now()) {
		if held, ok := r.held[host]; !ok || tok.ExpiresAt.After(held.ExpiresAt) {
			r.held[host] = tok
			r.log.Info("adopted the token another run of the agent wrote", zap.String("registry", host),
				zap.Time("expires_at", tok.ExpiresAt), zap.String("fingerprint", tok.Password.Fingerprint()))
		}
	}
}

// recorded reads the recorded status and the first credentials file.
// Callers hold r.mu.
func (r *Refresher) recorded() (Status, *Netrc, error) {
	st, err := ReadStatus(r.statePath)
	if err != nil {
		return st, nil, err
	}
	data, err := atomicfile.ReadFile(r.targets[0].path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			r.log.Warn("cannot read the credentials file to resume from it", zap.Error(err))
		}
		return st, nil, err
	}
	return st, ParseNetrc(string(data)), nil
}

// vouched are the file's tokens the status vouches for (same fingerprint)
// that have not expired, by host.
func vouched(st Status, netrc *Netrc, now time.Time) map[string]Token {
	out := map[string]Token{}
	for _, rs := range st.Registries {
		e, ok := netrc.Lookup(rs.Host)
		if !ok || rs.Fingerprint == "" || e.Password.Fingerprint() != rs.Fingerprint || !rs.ExpiresAt.After(now) {
			continue
		}
		out[rs.Host] = Token{Login: e.Login, Password: e.Password, ExpiresAt: rs.ExpiresAt}
	}
	return out
}
