package credentials

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/credentials/netrc"
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

	// Source fetches tokens; nil means the AWS helper (NewHelperSource).
	Source TokenSource
	// now and rand are the clock and the randomness, boot the kernel's
	// boot id (seams for tests).
	now  func() time.Time
	rand func(n int64) int64
	boot func() string

	targets     []target
	statePath   string
	nodeRegPath string // the node's registry, remembered for the boot
	sched       *schedule
	slotAddr    netip.Addr // the address the schedule's slot comes from
	run         sync.Mutex // one refresh at a time, scheduled or on demand
	write       sync.Mutex // one writer of the files at a time: a refresh or a Restore

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
	changed   func() // called after a scheduled run recorded its outcome; nil: nobody asked
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
		now: time.Now, rand: rand.Int64N, boot: bootID,
		targets: ts, statePath: statusPath(cfg, root), nodeRegPath: nodeRegistryPath(cfg, root),
		regs: cfg.ECR.Registries, held: map[string]Token{},
	}
	r.sched = &schedule{Interval: cfg.ECR.RefreshInterval.D(), Jitter: cfg.ECR.RefreshJitter.D(), Rand: func(n int64) int64 { return r.rand(n) }}
	if addr := primaryIPv4(); addr.IsValid() {
		r.sched.Slot, r.sched.HasSlot = addressSlot(addr, r.sched.Interval)
		r.slotAddr = addr
	}
	return r, nil
}

// RefreshNow refreshes every registry once. It returns nil only when every
// registry got a fresh token and every target file holds it.
func (r *Refresher) RefreshNow(ctx context.Context) error {
	r.run.Lock()
	defer func() { r.run.Unlock(); r.reschedule(); r.persist(); r.notify() }()
	r.resume()
	return r.refresh(ctx)
}

func (r *Refresher) refresh(ctx context.Context) error {
	start := r.now()
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
	errs = append(errs, r.refreshPublic(ctx), r.readSecrets(ctx))
	r.expire(r.now(), r.served(regs, err == nil))
	errs = append(errs, r.writeTargets()...)
	err = errors.Join(errs...)
	r.record(start, err)
	return err
}

// refreshRegion makes the one call for a region and hands the token to every
// registry there.
func (r *Refresher) refreshRegion(ctx context.Context, group []config.Registry) error {
	src := r.source()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ECR.Timeout.D())
	defer cancel()
	tok, err := src.Token(ctx, group[0])
	if err == nil && !tok.ExpiresAt.After(r.now()) {
		err = fmt.Errorf("ecr GetAuthorizationToken in %s: the token it returned expired at %s", group[0].Region, tok.ExpiresAt.UTC().Format(time.RFC3339))
	}
	hosts := make([]string, len(group))
	for i, g := range group {
		hosts[i] = g.Host
	}
	if err == nil {
		if err = netrc.CheckLines(hosts, tok.login(), tok.Password); err != nil {
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
		if serr := r.readSecrets(ctx); serr != nil {
			// Logged; the last good values are kept until secrets.max_age.
			err = serr
			r.record(r.now(), serr)
		}
		r.expire(r.now(), r.served(regs, true))
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
	soon := r.now().Add(r.cfg.ECR.RefreshBeforeExpiry.D())
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

// registries are the configured ones, or this node's own (asked once).
func (r *Refresher) registries(ctx context.Context) ([]config.Registry, error) {
	r.mu.Lock()
	regs := r.regs
	r.mu.Unlock()
	if len(regs) > 0 {
		return regs, nil
	}
	reg, ok := r.rememberedNodeRegistry()
	if !ok {
		var err error
		if reg, err = r.source().NodeRegistry(ctx); err != nil {
			return nil, err
		}
		r.rememberNodeRegistry(reg)
	}
	r.log.Info("no ecr.registries configured: using this node's account registry", zap.String("registry", reg.Host))
	r.mu.Lock()
	r.regs = []config.Registry{reg}
	r.mu.Unlock()
	return r.regs, nil
}

func (r *Refresher) source() TokenSource {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Source == nil {
		r.Source = NewHelperSource()
	}
	return r.Source
}

// byRegion groups registries so each region costs one call per refresh,
// and one more per role assumed there: a role's token serves only the
// registries that name it.
func byRegion(regs []config.Registry) [][]config.Registry {
	var out [][]config.Registry
	index := map[string]int{}
	for _, g := range regs {
		key := g.Region + " " + g.RoleARN
		i, ok := index[key]
		if !ok {
			i = len(out)
			index[key] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], g)
	}
	return out
}

// The registry kinds besides private ECR (ECR Public, secrets) share the
// refresher's held map, netrc writer, expiry rule and status with it: each
// is a set of hosts holding one Token whose Login says how enroot logs in.

func (t Token) login() string {
	if t.Login == "" {
		return "AWS"
	}
	return t.Login
}

// otherHosts are the hosts of ECR Public and of the secrets registries, in
// config order; they follow the private ECR registries in every file.
func otherHosts(cfg config.Config) []string {
	var out []string
	if cfg.ECR.Public {
		out = append(out, config.PublicHost)
	}
	for _, s := range cfg.Secrets.Registries {
		out = append(out, s.HostsOf()...)
	}
	return out
}

// servedHosts lists every host the config keeps a line for; the node's own
// registry, found at run time when ecr.registries is empty, is not among them.
func servedHosts(cfg config.Config) []string {
	var out []string
	for _, g := range cfg.ECR.Registries {
		out = append(out, g.Host)
	}
	return append(out, otherHosts(cfg)...)
}

// served are the hosts whose lines may stay; nil (the private registries
// unknown) lets only time decide.
func (r *Refresher) served(regs []config.Registry, known bool) []string {
	if !known {
		return nil
	}
	var out []string
	for _, g := range regs {
		out = append(out, g.Host)
	}
	return append(out, otherHosts(r.cfg)...)
}

// owns says whether a netrc entry is the agent's to replace or remove: an
// ECR or ECR Public line with login AWS (so a registry dropped from the
// config loses its line), or a configured secrets registry's host with its
// login. A password starting with $ is a user's command, never ours.
func (r *Refresher) owns(e netrc.Entry) bool {
	if strings.HasPrefix(e.Password.Reveal(), "$") {
		return false
	}
	if e.Login == "AWS" && (isECRHost(e.Host) || e.Host == config.PublicHost) {
		return true
	}
	for _, s := range r.cfg.Secrets.Registries {
		for _, h := range s.HostsOf() {
			if h == e.Host && e.Login == s.LoginOf() {
				return true
			}
		}
	}
	return false
}

// hosts are the registries in config order or, while this node's own
// registry is not yet discovered in this process, those with a resumed
// token: a restart while IMDS is unreachable must not drop a good token.
// Callers hold r.mu.
func (r *Refresher) hosts() []string {
	var out []string
	for _, g := range r.regs {
		out = append(out, g.Host)
	}
	others := otherHosts(r.cfg)
	if len(out) == 0 {
		for h := range r.held {
			if !slices.Contains(others, h) {
				out = append(out, h)
			}
		}
		slices.Sort(out)
	}
	return append(out, others...)
}

// refreshPublic keeps ECR Public's token (ecr.public), written for
// public.ecr.aws with login AWS: enroot sends it to the registry's Bearer
// realm, which trades it for a pull token.
func (r *Refresher) refreshPublic(ctx context.Context) error {
	if !r.cfg.ECR.Public {
		return nil
	}
	src := r.source()
	pub, ok := src.(PublicTokenSource)
	if !ok {
		return fmt.Errorf("%s: the token source cannot ask ecr-public", config.PublicHost)
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ECR.Timeout.D())
	defer cancel()
	tok, err := pub.PublicToken(ctx)
	if err == nil && !tok.ExpiresAt.After(r.now()) {
		err = fmt.Errorf("ecr-public GetAuthorizationToken: the token it returned expired at %s", tok.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if err == nil {
		if err = netrc.CheckLine(config.PublicHost, "AWS", tok.Password); err != nil {
			err = fmt.Errorf("ecr-public GetAuthorizationToken: %w: refused, not written", err)
		}
	}
	if err != nil {
		r.log.Warn("token refresh failed; serving the last good token until it expires", zap.String("registry", config.PublicHost), zap.Error(err))
		return err
	}
	tok.Login = "AWS"
	r.mu.Lock()
	r.held[config.PublicHost] = tok
	r.mu.Unlock()
	r.log.Info("token refreshed", zap.String("registry", config.PublicHost),
		zap.Time("expires_at", tok.ExpiresAt), zap.String("fingerprint", tok.Password.Fingerprint()))
	return nil
}

// readSecrets reads every secrets registry once. A value read is served
// until secrets.max_age after that read: a store that cannot be read, or a
// value refused (netrc.CheckValue, netrc.CheckLines), leaves the last good
// one until then, and a secret deleted from its store is withdrawn at once.
func (r *Refresher) readSecrets(ctx context.Context) error {
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
	src := r.source()
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
		if err = netrc.CheckValue(val.Reveal()); err == nil {
			err = netrc.CheckLines(s.HostsOf(), s.LoginOf(), val)
		}
		if err != nil {
			err = fmt.Errorf("%w: refused, not written", err)
		}
	}
	if err != nil {
		log.Error("secret not read; serving the last good value until secrets.max_age after its read", zap.Error(err))
		return err
	}
	tok := Token{Login: s.LoginOf(), Password: val, ExpiresAt: r.now().Add(r.cfg.Secrets.MaxAge.D())}
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

// refreshSecrets reads the secrets only (their own schedule, shorter than
// the ECR tokens'), rewrites the files and records what changed.
func (r *Refresher) refreshSecrets(ctx context.Context) error {
	r.run.Lock()
	defer func() { r.run.Unlock(); r.reschedule(); r.persist(); r.notify() }()
	r.resume()
	start := r.now()
	err := r.readSecrets(ctx)
	r.mu.Lock()
	regs := r.regs
	r.mu.Unlock()
	r.expire(r.now(), r.served(regs, len(regs) > 0))
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
