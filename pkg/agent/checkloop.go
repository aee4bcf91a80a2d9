package agent

import (
	"slices"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"go.uber.org/zap"
)

// startChecks evaluates the checks (through the cache /verify uses) in a
// worker, then drains or resumes the node when drain_on_failure is set.
func (l *loop) startChecks() {
	if l.checksBusy || !l.ready {
		return
	}
	l.checksBusy = true
	cache, drainer := l.cache, l.drainer
	go func() {
		rep, err := cache.Get(l.ctx)
		if err != nil {
			rep = verify.Report{Status: verify.Unknown}
		} else if drainer != nil {
			if act, err := drainer.Sync(l.ctx, rep); err != nil {
				l.log.Warn("cannot update the node's drain state", zap.Error(err))
			} else if act != NoAction {
				l.log.Info("drain state updated", zap.String("action", string(act)))
			}
		}
		l.checksDone <- rep
	}()
}

// observeChecks logs each check that changed, so the journal shows when a
// node went bad and when it recovered.
func (l *loop) observeChecks(rep verify.Report) {
	l.checksBusy = false
	if rep.Results == nil {
		return
	}
	now := map[string]verify.Status{}
	l.failingCheck = ""
	for _, r := range rep.Results {
		now[r.Name] = r.Status
		if r.Status == verify.Fail && l.failingCheck == "" {
			l.failingCheck = r.Name
		}
		before, known := l.checkStatus[r.Name]
		switch {
		case known && before == r.Status:
		case r.Status == verify.OK && known:
			l.log.Info("check passes again", zap.String("check", r.Name), zap.String("message", r.Message))
		case r.Status != verify.OK:
			l.log.Warn("check "+r.Status.String(), zap.String("check", r.Name), zap.String("message", r.Message), zap.String("fix", r.Fix))
		}
	}
	l.checkStatus = now
}

func sortFailed(f []failedStep) {
	slices.SortFunc(f, func(a, b failedStep) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// monotonicUsec is CLOCK_MONOTONIC in µs, which systemd wants beside
// RELOADING=1.
func monotonicUsec() int64 { return int64(monotonic() / time.Microsecond) }
