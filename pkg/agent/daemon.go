package agent

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
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
}

// shutdownBudget bounds SIGTERM to exit: systemd waits TimeoutStopSec, but
// an admin running `systemctl restart` should not.
const shutdownBudget = 4 * time.Second

// loop is the daemon's state. Only the Run goroutine touches it, except
// where a field says otherwise; workers report back over channels.
type loop struct {
	d   *Daemon
	log *zap.Logger
	ctx context.Context
	cfg config.Config

	phase       phase
	workCancel  context.CancelFunc
	workDone    chan workResult
	needRefresh bool // refresh credentials after this converge
	ready       bool
	reloading   bool
	pending     *config.Config // a valid reload waiting for the work in flight to stop
	reloadErr   time.Time

	retries int
	retry   *time.Timer
	retryC  <-chan time.Time
	failing map[string]time.Time // step -> failing since
	nextTry time.Time

	refMu      sync.Mutex // guards refresher: metrics read it from HTTP goroutines
	refresher  Refresher
	refCancel  context.CancelFunc
	refErr     error
	refStarted bool

	srv          *server
	cache        *verify.Cache
	metrics      *Metrics
	drainer      *Drainer
	checksBusy   bool
	checksDone   chan verify.Report
	checkStatus  map[string]verify.Status
	failingCheck string

	beat     atomic.Int64 // unix nanos of the loop's last turn; read by /healthz
	lastSent string
}

// Run serves until ctx ends (SIGTERM, SIGINT). Every signal on reloads
// (SIGHUP) rereads the config. It returns an error only when the daemon
// cannot start at all (the listener cannot bind).
func (d *Daemon) Run(ctx context.Context, cfg config.Config, reloads <-chan os.Signal) error {
	l := &loop{
		d: d, log: d.Log, ctx: ctx, cfg: cfg,
		workDone: make(chan workResult, 1), checksDone: make(chan verify.Report, 1),
		failing: map[string]time.Time{}, checkStatus: map[string]verify.Status{},
	}
	l.beat.Store(time.Now().UnixNano())
	if err := l.setup(); err != nil {
		d.notify("STATUS=failed: " + err.Error())
		return err
	}
	l.needRefresh = true
	l.startConverge()
	l.publishStatus()
	return l.run(reloads)
}

func (l *loop) run(reloads <-chan os.Signal) error {
	beat := time.NewTicker(time.Second)
	defer beat.Stop()
	var watchdog <-chan time.Time
	if l.d.Watchdog > 0 {
		t := time.NewTicker(l.d.Watchdog / 2)
		defer t.Stop()
		watchdog = t.C
		l.d.notify("WATCHDOG=1")
	}
	checks := time.NewTicker(l.cfg.Verify.Interval.D())
	defer checks.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return l.shutdown()
		case <-beat.C:
			l.beat.Store(time.Now().UnixNano())
			l.publishStatus()
		case <-watchdog:
			// Pinged from the loop itself: a wedged loop stops the pings.
			l.d.notify("WATCHDOG=1")
		case res := <-l.workDone:
			l.finish(res)
			l.publishStatus()
		case <-l.retryC:
			l.retryC = nil
			l.needRefresh = l.refresher == nil
			l.startConverge()
		case <-reloads:
			l.reload()
			checks.Reset(l.cfg.Verify.Interval.D())
			l.publishStatus()
		case <-checks.C:
			l.startChecks()
		case rep := <-l.checksDone:
			l.observeChecks(rep)
			l.publishStatus()
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
