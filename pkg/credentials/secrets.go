package credentials

import (
	"context"
	"errors"
	"fmt"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"go.uber.org/zap"
)

// refreshSecrets reads every secrets registry once. A value read is served
// until secrets.max_age after that read: a store that cannot be read, or a
// value refused (checkValue, checkLine), leaves the last good one until then, and a
// secret deleted from its store is withdrawn at once.
func (r *Refresher) refreshSecrets(ctx context.Context) error {
	var errs []error
	for _, s := range r.cfg.Secrets.Registries {
		if err := r.refreshSecret(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("secrets registry %q (%s): %w", s.Name, s.Source, err))
		}
	}
	return errors.Join(errs...)
}

func (r *Refresher) refreshSecret(ctx context.Context, s config.SecretRegistry) error {
	log := r.log.With(zap.String("registry", s.Name), zap.Strings("hosts", s.HostsOf()))
	src, err := r.source(ctx)
	if err != nil {
		return err
	}
	reader, ok := src.(SecretSource)
	if !ok {
		return errors.New("the token source cannot read secret stores")
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ECR.Timeout.D())
	defer cancel()
	store, id := config.SourceOf(s.Source)
	val, err := reader.Secret(ctx, store, id)
	if errors.Is(err, ErrWithdrawn) {
		r.withdraw(s.HostsOf())
		log.Error("secret withdrawn from its store: its lines are removed", zap.Error(err))
		return err
	}
	if err == nil {
		if err = checkValue(val.Reveal()); err == nil {
			err = checkLines(s.HostsOf(), s.LoginOf(), val)
		}
		if err != nil {
			err = fmt.Errorf("%w: refused, not written", err)
		}
	}
	if err != nil {
		log.Error("secret not read; serving the last good value until secrets.max_age after its read", zap.Error(err))
		return err
	}
	tok := Token{Login: s.LoginOf(), Password: val, ExpiresAt: r.Now().Add(r.cfg.Secrets.MaxAge.D())}
	r.mu.Lock()
	for _, h := range s.HostsOf() {
		r.held[h] = tok
	}
	r.mu.Unlock()
	log.Info("secret read", zap.String("fingerprint", tok.Password.Fingerprint()))
	return nil
}

// withdraw drops the hosts' values at once.
func (r *Refresher) withdraw(hosts []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range hosts {
		delete(r.held, h)
	}
}

// RefreshSecrets reads the secrets only (their own schedule, shorter than
// the ECR tokens'), rewrites the files and records what changed.
func (r *Refresher) RefreshSecrets(ctx context.Context) error {
	r.run.Lock()
	defer func() { r.run.Unlock(); r.reschedule(); r.persist() }()
	r.resume()
	start := r.Now()
	err := r.refreshSecrets(ctx)
	r.mu.Lock()
	regs := r.regs
	r.mu.Unlock()
	r.expire(r.Now(), r.served(regs, len(regs) > 0))
	err = errors.Join(append(r.writeTargets(), err)...)
	if err != nil {
		// A success here says nothing of the ECR tokens, so only a failure
		// is recorded; it also schedules a retry of the whole refresh.
		r.record(start, err)
	} else {
		r.mu.Lock()
		r.noteHeld()
		r.mu.Unlock()
	}
	return err
}
