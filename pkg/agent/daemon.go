package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/credentials/probe"
	"github.com/enroot-agent/enroot-agent/pkg/images"
	"github.com/enroot-agent/enroot-agent/pkg/node"
	"github.com/enroot-agent/enroot-agent/pkg/serve"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
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
	// NewNode builds the node of one config, once per start and reload;
	// nil means node.New. probes is the daemon's record of the registry
	// probe, which the metrics read and which outlives every config. Tests
	// of the loop's timing assemble their own steps and checks.
	NewNode func(cfg config.Config, probes *probe.Record) *node.Node
}

// shutdownBudget bounds SIGTERM to exit: systemd waits TimeoutStopSec, but
// an admin running `systemctl restart` should not.
const shutdownBudget = 4 * time.Second

// loop is the daemon's state, grouped by concern; each group's file owns
// it: work.go the converge, the credentials refresher and drift repair,
// checks.go the checks and the drain, this file start, reload and stop,
// the listeners and the image cache. Only the Run goroutine touches it,
// except where a field says otherwise; workers report back over channels.
type loop struct {
	d    *Daemon
	log  *zap.Logger
	ctx  context.Context
	cfg  config.Config
	node *node.Node // built from cfg, and rebuilt only with it

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
		creds:  keeper{changed: make(chan struct{}, 1)},
		serve:  serving{asks: make(chan chan struct{}, 1)},
	}
	l.node = l.newNode(cfg)
	l.serve.beat.Store(time.Now().UnixNano())
	return l
}

// newNode builds the node of cfg with the daemon's own probe record: the
// metrics read it, and it outlives every config.
func (l *loop) newNode(cfg config.Config) *node.Node {
	if l.d.NewNode != nil {
		return l.d.NewNode(cfg, &l.serve.probes)
	}
	return node.New(cfg, l.d.Root, l.log, &l.serve.probes)
}

// start converges the node, then serves until ctx ends.
func (l *loop) start(reloads <-chan os.Signal) error {
	l.work.needRefresh = true
	l.startConverge()
	l.publishStatus()
	return l.run(reloads)
}

// run turns the loop on events only: nothing wakes an idle daemon but its
// check round (verify.interval), the watchdog (WatchdogSec/2) and what it
// scheduled itself. Every turn records the heartbeat /healthz reads and
// publishes STATUS= if the line changed (a scheduled refresh reports over
// creds.changed; the image cache's counters show at the next turn).
func (l *loop) run(reloads <-chan os.Signal) error {
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
		l.serve.beat.Store(time.Now().UnixNano())
		l.publishStatus()
		select {
		case <-l.ctx.Done():
			return l.shutdown()
		case turned := <-l.serve.asks:
			close(turned) // the beat is fresh: /healthz asked an idle loop
		case <-l.creds.changed:
		case <-watchdog:
			// Pinged from the loop itself: a wedged loop stops the pings.
			l.watchdogPing()
		case res := <-l.work.done:
			l.finish(res)
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
		case <-checks.C:
			l.startChecks()
		case run := <-l.checks.done:
			l.checksDone(run)
		case rep := <-l.checks.fresh:
			l.observed(rep)
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

// Notifier tells the service manager about the daemon's state (sd_notify).
type Notifier interface {
	Notify(state string) error
}

// SystemdNotifier sends to $NOTIFY_SOCKET; without it (not under systemd)
// every call is a no-op.
type SystemdNotifier struct{}

func (SystemdNotifier) Notify(state string) error {
	_, err := daemon.SdNotify(false, state)
	return err
}

// setup builds the checks, metrics and drainer and binds the listener.
func (l *loop) setup() error {
	err := l.prepare()
	if err != nil {
		return err
	}
	v := l.cfg.Verify
	h := serve.Handler(l.checks.cache, l.alive, l.serve.metrics.Registry)
	if l.serve.srv, err = serve.Listen(v.Listen, h, l.log); err != nil {
		return err
	}
	l.serve.listeners.Set("verify.listen", l.serve.srv.Err)
	// Without the socket the CLI evaluates locally: slower, never wrong.
	if l.serve.sock, err = serve.ListenSocket(l.d.Root, h, l.log); err != nil {
		l.log.Warn("no root-only verify socket; `enroot-agent verify` will run the checks itself", zap.Error(err))
	} else {
		l.serve.listeners.Set("the verify socket", l.serve.sock.Err)
	}
	l.startImages()
	return nil
}

// prepare builds the checks, the drainer and the metrics.
func (l *loop) prepare() error {
	name, err := slurm.NodeName(l.cfg.Verify.NodeName)
	if err != nil {
		return err
	}
	l.setupChecks(name)
	l.serve.metrics = serve.NewMetrics(l.d.Version, serve.Sources{
		Checks: l.checks.cache, Creds: l.credsStatus, Probes: &l.serve.probes, Drained: l.serve.drained.Load,
	})
	return nil
}

// shutdown says STOPPING=1 and stops everything within shutdownBudget: the
// work in flight is cancelled (its commands are killed), the refresher's
// ECR call is cancelled, and the listener closes.
func (l *loop) shutdown() error {
	l.d.notify("STOPPING=1\nSTATUS=stopping")
	l.log.Info("stopping")
	deadline := time.Now().Add(shutdownBudget)
	if l.work.retry != nil {
		l.work.retry.Stop()
	}
	if l.repair.timer != nil {
		l.repair.timer.Stop()
	}
	if err := l.waitWork(deadline); err != nil {
		l.log.Warn("exiting with work in flight", zap.Error(err))
	}
	l.stopRefresher(deadline)
	l.stopImages()
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if l.serve.srv != nil {
		l.serve.srv.Close(ctx)
	}
	if l.serve.sock != nil {
		l.serve.sock.Close(ctx)
	}
	return nil
}

// reload rereads the config. An invalid one is rejected and the running
// config stays; a valid one is converged like a start.
func (l *loop) reload() {
	cfg, err := l.d.LoadConfig()
	if err == nil && cfg.Verify.Listen != l.cfg.Verify.Listen {
		err = l.rebind(cfg)
	}
	if err != nil {
		l.reloadErr = time.Now()
		l.logRejected(err)
		return
	}
	l.reloadErr = time.Time{}
	l.log.Info("config reloaded; converging the node again")
	l.d.notify("RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(monotonicUsec(), 10))
	l.pending = &cfg
	if l.work.phase != idle {
		l.work.cancel() // finish applies the reload once the worker stops
		return
	}
	l.applyReload()
}

func (l *loop) logRejected(err error) {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			l.log.Error("config reload rejected; still running the previous config", zap.String("problem", e.Error()))
		}
		return
	}
	l.log.Error("config reload rejected; still running the previous config", zap.Error(err))
}

func (l *loop) applyReload() {
	cfg := *l.pending
	l.pending = nil
	l.stopRefresher(time.Now().Add(shutdownBudget))
	if l.work.retry != nil {
		l.work.retry.Stop()
		l.work.retryC = nil
	}
	l.cfg, l.reloading, l.work.retries, l.creds.err = cfg, true, 0, nil
	l.node = l.newNode(cfg)
	l.stopImages()
	l.startImages()
	name, err := slurm.NodeName(cfg.Verify.NodeName)
	if err != nil {
		l.log.Warn("no node name; draining is off", zap.Error(err))
		name = ""
	}
	l.setupChecks(name)
	l.repair.trigger = ""
	l.work.needRefresh = true
	l.startConverge()
}

// view gathers what the STATUS= line says, from the newest report: the
// same one /verify serves and the drain reason names.
func (l *loop) view() statusView {
	now := time.Now()
	v := statusView{Now: now, ReloadErr: l.reloadErr}
	if rep := l.checks.last; rep.Status != verify.OK && rep.Results != nil {
		v.FailingCheck, v.CheckStatus = node.RootCause(rep.Results), rep.Status
		v.FailingSince = l.checks.since[v.FailingCheck]
		v.NextRetry = l.nextRetry(now)
	}
	if l.cfg.Enroot.Install {
		v.EnrootVersion = l.cfg.Enroot.Version
	}
	if l.cfg.Pyxis.Install {
		v.PyxisVersion = l.cfg.Pyxis.Version
	}
	if l.creds.err != nil {
		v.CredsErr = l.creds.err.Error()
	}
	if st, ok := l.credsStatus(); ok {
		v.Creds = &st
	}
	if l.images.svc != nil {
		snap := l.images.stats.Snapshot()
		v.Images = &snap
	}
	switch {
	case !l.ready || l.reloading:
		word := map[bool]string{false: "starting", true: "reloading"}[l.reloading]
		doing := map[phase]string{converging: "converging the node", refreshing: "refreshing ECR credentials", idle: "checking the node"}[l.work.phase]
		v.Phase = word + ": " + doing
	case strings.HasPrefix(l.repair.trigger, "check ") && v.FailingCheck != "":
		v.Repairing = true
	}
	return v
}

// monotonicUsec is CLOCK_MONOTONIC in µs, which systemd wants beside
// RELOADING=1.
func monotonicUsec() int64 { return int64(monotonic() / time.Microsecond) }

// imageCache is the daemon's share of the image cache: the service while
// images.cache is on, and its counters, which live as long as the daemon.
type imageCache struct {
	svc   *images.Service
	stats images.Stats
}

// startImages starts the cache service when images.cache is on, and
// registers its metrics once. A cache that cannot start is logged, never
// fatal: the importer then falls back to each user's own import.
func (l *loop) startImages() {
	if l.serve.metrics != nil {
		l.serve.metrics.WatchImages(&l.images.stats)
	}
	if !l.cfg.Images.Cache {
		return
	}
	name, err := slurm.NodeName(l.cfg.Verify.NodeName)
	if err != nil {
		name = "node"
	}
	svc, err := images.Start(l.cfg, l.d.Root, name, &l.images.stats, l.log.Named("images"))
	if err != nil {
		l.log.Error("image cache not started; jobs import their images themselves", zap.Error(err))
		return
	}
	l.images.svc = svc
	l.serve.listeners.Set(imageSocket, svc.Err)
}

const imageSocket = "the image cache socket"

func (l *loop) stopImages() {
	if l.images.svc != nil {
		l.serve.listeners.Set(imageSocket, nil)
		l.images.svc.Stop()
		l.images.svc = nil
	}
}

// monotonic is CLOCK_MONOTONIC.
func monotonic() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// serving is what the daemon shows the outside (pkg/serve): the listeners
// and the metrics, and the loop's heartbeat behind /healthz.
type serving struct {
	srv       *serve.Server
	sock      *serve.Server // the root-only socket the CLI asks; nil when it could not be made
	metrics   *serve.Metrics
	beat      atomic.Int64       // unix nanos of the loop's last turn; read by /healthz
	asks      chan chan struct{} // /healthz asks an idle loop to turn; closed once it did
	drained   atomic.Bool        // the daemon's drainer has the node drained; read by /metrics
	listeners serve.Listeners    // read by /healthz and the watchdog
	probes    probe.Record       // the credentials-probe check's latest stages; read by /metrics
}

// loopStale is how long the loop may go without turning before /healthz
// fails.
const loopStale = 10 * time.Second

// alive is /healthz: the event loop turns, and every listener still
// accepts. The loop turns only on events, so a beat older than loopStale
// proves nothing alone: the loop is asked to turn, and fails /healthz when
// it does not within loopStale (wedged), as a beat that old failed it when
// the loop also turned every second.
func (l *loop) alive() error {
	if err := l.turns(); err != nil {
		return err
	}
	return l.serve.listeners.Err()
}

func (l *loop) turns() error {
	last := time.Unix(0, l.serve.beat.Load())
	if time.Since(last) <= loopStale {
		return nil
	}
	wait := time.NewTimer(loopStale)
	defer wait.Stop()
	turned := make(chan struct{})
	select {
	case l.serve.asks <- turned:
		select {
		case <-turned:
			return nil
		case <-wait.C:
		}
	case <-wait.C:
	}
	return fmt.Errorf("event loop last ran %s ago and did not turn within %s of being asked", time.Since(last).Round(time.Second), loopStale)
}

// watchdogPing tells systemd the daemon lives, only while every listener
// accepts: a daemon whose socket died is restarted rather than kept.
func (l *loop) watchdogPing() {
	if err := l.serve.listeners.Err(); err != nil {
		l.log.Error("not pinging the watchdog: systemd will restart the agent", zap.Error(err))
		return
	}
	l.d.notify("WATCHDOG=1")
}

// rebind moves the listener when verify.listen changed; failing to bind
// the new address rejects the reload, so the node stays observable.
func (l *loop) rebind(cfg config.Config) error {
	old := l.serve.srv
	srv, err := serve.Listen(cfg.Verify.Listen, old.Handler(), l.log)
	if err != nil {
		return err
	}
	l.serve.srv = srv
	l.serve.listeners.Set("verify.listen", srv.Err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	old.Close(ctx)
	return nil
}
