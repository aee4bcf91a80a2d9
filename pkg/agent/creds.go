package agent

import (
	"context"
	"sync"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/credentials"
	"go.uber.org/zap"
)

// keeper is the credentials' state: the refresher keeps the tokens fresh on
// its own schedule once started; the loop builds, starts and stops it.
type keeper struct {
	mu        sync.Mutex // guards refresher: metrics read it from HTTP goroutines
	refresher Refresher
	cancel    context.CancelFunc
	err       error // the refresher could not be built
	started   bool
}

func (l *loop) startRefresh() {
	ctx, cancel := context.WithCancel(l.ctx)
	l.work.phase, l.work.cancel = refreshing, cancel
	r := l.creds.refresher
	go func() {
		_, err := r.Ensure(ctx)
		l.work.done <- workResult{kind: refreshing, err: err}
	}()
}

// ensureRefresher builds the refresher when there is none yet; it fails
// when, say, credentials.group names a group the directory does not have
// yet, and is retried with the failed steps.
func (l *loop) ensureRefresher() bool {
	if l.creds.refresher != nil {
		return true
	}
	r, err := l.d.NewRefresher(l.cfg, l.d.Root, l.log)
	l.creds.err = err
	if err != nil {
		l.log.Error("cannot keep ECR credentials", zap.Error(err))
		return false
	}
	l.creds.mu.Lock()
	l.creds.refresher = r
	l.creds.mu.Unlock()
	return true
}

// stopRefresher ends the schedule and cancels a refresh in flight, waiting
// for it until deadline at most.
func (l *loop) stopRefresher(deadline time.Time) {
	if l.creds.refresher == nil {
		return
	}
	if l.creds.cancel != nil {
		l.creds.cancel()
	}
	stopped := l.creds.refresher.Stop()
	wait, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	select {
	case <-stopped.Done():
	case <-wait.Done():
		l.log.Warn("credentials refresh still running; not waiting for it")
	}
	l.creds.mu.Lock()
	l.creds.refresher, l.creds.cancel, l.creds.started = nil, nil, false
	l.creds.mu.Unlock()
}

// restorer is how the checks' worker puts the credentials files back from
// the tokens held; nil until the first refresh wrote them (and while a
// reload builds a new refresher).
func (l *loop) restorer() func() ([]string, error) {
	if !l.creds.started || l.creds.refresher == nil {
		return nil
	}
	return l.creds.refresher.Restore
}

func (l *loop) credsStatus() (credentials.Status, bool) {
	l.creds.mu.Lock()
	r := l.creds.refresher
	l.creds.mu.Unlock()
	if r == nil {
		return credentials.Status{}, false
	}
	return r.Status(), true
}
