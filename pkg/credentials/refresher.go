package credentials

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/robfig/cron/v3"
	"go.uber.org/zap"
)

// Refresher keeps one token per configured registry in every target file.
// It serves the last good token until its expiry and never after: an expired
// token's line is removed, so enroot fails fast with "no credentials" rather
// than with a confusing 401 (amazon-ecr-credential-helper#679).
type Refresher struct {
	cfg  config.Config
	log  *zap.Logger
	root config.Root

	// Source fetches tokens; nil means the AWS SDK, loaded at first use.
	Source TokenSource
	// Now and Rand are the clock and the randomness (seams for tests).
	Now  func() time.Time
	Rand func(n int64) int64

	targets   []target
	statePath string
	sched     *Schedule
	slotAddr  netip.Addr // the address the schedule's slot comes from
	run       sync.Mutex // one refresh at a time, scheduled or on demand
	write     sync.Mutex // one writer of the files at a time: a refresh or a Restore

	mu        sync.Mutex
	regs      []config.Registry
	held      map[string]Token // host -> the token served now
	failures  int              // consecutive failed refreshes
	resumed   bool             // tokens of an earlier process looked at
	rewritten []string         // files changed by writeTargets
	status    Status
	cron      *cron.Cron
	job       cron.Job
	entry     cron.EntryID
}

// NewRefresher checks that the targets' users and groups exist; it makes no
// AWS call and writes nothing.
func NewRefresher(cfg config.Config, root config.Root, log *zap.Logger) (*Refresher, error) {
	ts, err := targets(cfg.Credentials, root)
	if err != nil {
		return nil, err
	}
	r := &Refresher{
		cfg: cfg, root: root, log: log.Named("credentials"),
		Now: time.Now, Rand: rand.Int64N,
		targets: ts, statePath: StatusPath(cfg, root),
		regs: cfg.ECR.Registries, held: map[string]Token{},
	}
	r.sched = &Schedule{Interval: cfg.ECR.RefreshInterval.D(), Jitter: cfg.ECR.RefreshJitter.D(), Rand: func(n int64) int64 { return r.Rand(n) }}
	if addr := primaryIPv4(); addr.IsValid() {
		r.sched.Slot, r.sched.HasSlot = AddressSlot(addr, r.sched.Interval)
		r.slotAddr = addr
	}
	return r, nil
}

// RefreshNow refreshes every registry once. It returns nil only when every
// registry got a fresh token and every target file holds it.
func (r *Refresher) RefreshNow(ctx context.Context) error {
	r.run.Lock()
	defer func() { r.run.Unlock(); r.reschedule(); r.persist() }()
	r.resume()
	return r.refresh(ctx)
}

func (r *Refresher) refresh(ctx context.Context) error {
	start := r.Now()
	regs, err := r.registries(ctx)
	var errs []error
	if err != nil {
		r.log.Error("cannot tell which registry to refresh", zap.Error(err))
		errs = append(errs, err)
	}
	for _, group := range byRegion(regs) {
		if err := r.refreshRegion(ctx, group); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, r.refreshPublic(ctx), r.refreshSecrets(ctx))
	r.expire(r.Now(), r.served(regs, err == nil))
	errs = append(errs, r.writeTargets()...)
	err = errors.Join(errs...)
	r.record(start, err)
	return err
}

// refreshRegion makes the one call for a region and hands the token to every
// registry there.
func (r *Refresher) refreshRegion(ctx context.Context, group []config.Registry) error {
	src, err := r.source(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ECR.Timeout.D())
	defer cancel()
	tok, err := src.Token(ctx, group[0])
	if err == nil && !tok.ExpiresAt.After(r.Now()) {
		err = fmt.Errorf("ecr GetAuthorizationToken in %s: the token it returned expired at %s", group[0].Region, tok.ExpiresAt.UTC().Format(time.RFC3339))
	}
	hosts := make([]string, len(group))
	for i, g := range group {
		hosts[i] = g.Host
	}
	if err == nil {
		if err = checkLines(hosts, tok.login(), tok.Password); err != nil {
			err = fmt.Errorf("ecr GetAuthorizationToken in %s: %w: refused, not written", group[0].Region, err)
		}
	}
	if err != nil {
		r.log.Warn("token refresh failed; serving the last good token until it expires", zap.String("region", group[0].Region), zap.Strings("registries", hosts), zap.Error(err))
		return err
	}
	r.mu.Lock()
	for _, h := range hosts {
		r.held[h] = tok
	}
	r.mu.Unlock()
	r.log.Info("token refreshed", zap.String("region", group[0].Region), zap.Strings("registries", hosts),
		zap.Time("expires_at", tok.ExpiresAt), zap.String("fingerprint", tok.Password.Fingerprint()))
	return nil
}

// expire drops tokens that have expired, and those of registries no longer
// configured, so no target keeps them. With served unknown (nil: discovery
// failed) only time decides.
func (r *Refresher) expire(now time.Time, served []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for h, tok := range r.held {
		configured := served == nil || slices.Contains(served, h)
		if configured && tok.ExpiresAt.After(now) {
			continue
		}
		if configured {
			r.log.Error("token expired and could not be refreshed: removed from the credentials files; pulls from this registry fail until a refresh succeeds",
				zap.String("registry", h), zap.Time("expired_at", tok.ExpiresAt))
		}
		delete(r.held, h)
	}
}
