package agent

import (
	"context"
	"os"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"go.uber.org/zap"
)

// Daemon is `enroot-agent run`: converge the node, keep credentials fresh,
// serve the checks, and tell systemd how it is going.
type Daemon struct {
	Root     config.Root
	Log      *zap.Logger
	Version  string
	Notifier Notifier
	// Watchdog is systemd's WatchdogSec (WATCHDOG_USEC); 0 when unwatched.
	Watchdog time.Duration
	// LoadConfig rereads the config on SIGHUP.
	LoadConfig   func() (config.Config, error)
	NewRefresher RefresherFactory
	// Steps and DomainChecks say what a converged node is; nil means the
	// production lists (the package's Steps and DomainChecks). Tests of the
	// loop's timing swap them.
	Steps        func(Env) []converge.Step
	DomainChecks func(Env) []verify.Check
}

// shutdownBudget bounds SIGTERM to exit: systemd waits TimeoutStopSec, but
// an admin running `systemctl restart` should not.
const shutdownBudget = 4 * time.Second

// loop is the daemon's state, grouped by concern; each group's file owns
// it: work.go the converge, creds.go the refresher, checkloop.go the checks,
// server.go the listener and metrics, lifecycle.go start, reload and stop.
// Only the Run goroutine touches it, except where a field says otherwise;
// workers report back over channels.
type loop struct {
	d   *Daemon
	log *zap.Logger
	ctx context.Context
	cfg config.Config
	env Env // built from cfg by NewEnv, and rebuilt only with it

	work   converger
	creds  keeper
	checks checkState
	serve  serving
	repair repairs
	images imageCache

	ready     bool // READY=1 was sent: repairs and drains may act
	reloading bool
	settled   bool           // a start or reload converge has finished: checks may run
	pending   *config.Config // a valid reload waiting for the work in flight to stop
	reloadErr time.Time
	lastSent  string // the last STATUS= line
}

// Run serves until ctx ends (SIGTERM, SIGINT). Every signal on reloads
// (SIGHUP) rereads the config. It returns an error only when the daemon
// cannot start at all (the listener cannot bind).
func (d *Daemon) Run(ctx context.Context, cfg config.Config, reloads <-chan os.Signal) error {
	l := d.newLoop(ctx, cfg)
	if err := l.setup(); err != nil {
		d.notify("STATUS=failed: " + err.Error())
		return err
	}
	return l.start(reloads)
}

func (d *Daemon) newLoop(ctx context.Context, cfg config.Config) *loop {
	l := &loop{
		d: d, log: d.Log, ctx: ctx, cfg: cfg,
		work:   converger{done: make(chan workResult, 1), failing: map[string]bool{}},
		checks: newCheckState(),
	}
	l.env = l.newEnv(cfg)
	l.serve.beat.Store(time.Now().UnixNano())
	return l
}

// newEnv is NewEnv with the daemon's own keepers: the probe record the
// metrics read outlives every config.
func (l *loop) newEnv(cfg config.Config) Env {
	env := NewEnv(cfg, l.d.Root, l.log)
	env.Probes = &l.serve.probes
	return env
}

// start converges the node, then serves until ctx ends.
func (l *loop) start(reloads <-chan os.Signal) error {
	l.work.needRefresh = true
	l.startConverge()
	l.publishStatus()
	return l.run(reloads)
}

// steps and checks are what a converged node is under the current config.
func (l *loop) steps() []converge.Step {
	if l.d.Steps != nil {
		return l.d.Steps(l.env)
	}
	return Steps(l.env)
}

func (l *loop) checkList() []verify.Check {
	domain := l.d.DomainChecks
	if domain == nil {
		domain = DomainChecks
	}
	return checksOf(l.steps(), domain(l.env))
}

func (l *loop) run(reloads <-chan os.Signal) error {
	beat := time.NewTicker(time.Second)
	defer beat.Stop()
	var watchdog <-chan time.Time
	if l.d.Watchdog > 0 {
		t := time.NewTicker(l.d.Watchdog / 2)
		defer t.Stop()
		watchdog = t.C
		l.watchdogPing()
	}
	checks := time.NewTicker(l.cfg.Verify.Interval.D())
	defer checks.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return l.shutdown()
		case <-beat.C:
			l.serve.beat.Store(time.Now().UnixNano())
			l.publishStatus()
		case <-watchdog:
			// Pinged from the loop itself: a wedged loop stops the pings.
			l.watchdogPing()
		case res := <-l.work.done:
			l.finish(res)
			l.publishStatus()
		case <-l.repair.c:
			l.repair.c = nil
			l.startRepair("schedule")
		case <-l.work.retryC:
			l.work.retryC = nil
			if l.work.phase == idle { // else the run in flight settles and retries
				l.work.needRefresh = l.creds.refresher == nil
				l.startConverge()
			}
		case <-reloads:
			l.reload()
			checks.Reset(l.cfg.Verify.Interval.D())
			l.publishStatus()
		case <-checks.C:
			l.startChecks()
		case run := <-l.checks.done:
			l.checksDone(run)
			l.publishStatus()
		case rep := <-l.checks.fresh:
			l.observed(rep)
			l.publishStatus()
		case res := <-l.checks.drained:
			l.drainDone(res)
		}
	}
}

func (d *Daemon) notify(state string) {
	if err := d.Notifier.Notify(state); err != nil {
		d.Log.Warn("cannot notify systemd", zap.Error(err))
	}
}

// publishStatus sends STATUS= when the line changed, and logs it, so the
// journal tells the same story as systemctl status.
func (l *loop) publishStatus() {
	line := statusLine(l.view())
	if line == l.lastSent {
		return
	}
	l.lastSent = line
	l.d.notify("STATUS=" + line)
	l.log.Info("status", zap.String("status", line))
}
