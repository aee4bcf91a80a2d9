package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/credentials"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"go.uber.org/zap"
)

// setup builds the checks, metrics and drainer and binds the listener.
func (l *loop) setup() error {
	node, err := slurm.NodeName(l.cfg.Verify.NodeName)
	if err != nil {
		return err
	}
	v := l.cfg.Verify
	l.cache = verify.NewCache(Checks(l.env()), v.CacheTTL.D(), v.Timeout.D(), node)
	l.metrics = NewMetrics(l.d.Version, l.cache, l.credsStatus)
	l.drainer = l.newDrainer(node)
	l.srv, err = listen(v.Listen, handler(l.cache, l.alive, l.metrics.Registry), l.log)
	return err
}

func (l *loop) newDrainer(node string) *Drainer {
	if !l.cfg.Verify.DrainOnFailure {
		return nil
	}
	return &Drainer{Node: node, Log: l.log.Named("drain")}
}

// alive is /healthz: the event loop turned within the last few seconds.
func (l *loop) alive() error {
	if age := time.Since(time.Unix(0, l.beat.Load())); age > 10*time.Second {
		return fmt.Errorf("event loop last ran %s ago", age.Round(time.Second))
	}
	return nil
}

func (l *loop) credsStatus() (credentials.Status, bool) {
	l.refMu.Lock()
	r := l.refresher
	l.refMu.Unlock()
	if r == nil {
		return credentials.Status{}, false
	}
	return r.Status(), true
}

// shutdown says STOPPING=1 and stops everything within shutdownBudget: the
// work in flight is cancelled (its commands are killed), the refresher's
// ECR call is cancelled, and the listener closes.
func (l *loop) shutdown() error {
	l.d.notify("STOPPING=1\nSTATUS=stopping")
	l.log.Info("stopping")
	deadline := time.Now().Add(shutdownBudget)
	if l.retry != nil {
		l.retry.Stop()
	}
	if err := l.waitWork(deadline); err != nil {
		l.log.Warn("exiting with work in flight", zap.Error(err))
	}
	l.stopRefresher(deadline)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	l.srv.close(ctx)
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
	if l.phase != idle {
		l.workCancel() // finish applies the reload once the worker stops
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

// rebind moves the listener when verify.listen changed; failing to bind
// the new address rejects the reload, so the node stays observable.
func (l *loop) rebind(cfg config.Config) error {
	old := l.srv
	srv, err := listen(cfg.Verify.Listen, old.srv.Handler, l.log)
	if err != nil {
		return err
	}
	l.srv = srv
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	old.close(ctx)
	return nil
}

func (l *loop) applyReload() {
	cfg := *l.pending
	l.pending = nil
	l.stopRefresher(time.Now().Add(shutdownBudget))
	if l.retry != nil {
		l.retry.Stop()
		l.retryC = nil
	}
	l.cfg, l.reloading, l.retries, l.refErr = cfg, true, 0, nil
	node, err := slurm.NodeName(cfg.Verify.NodeName)
	if err != nil {
		l.log.Warn("no node name; draining is off", zap.Error(err))
	}
	v := cfg.Verify
	l.cache.SetChecks(Checks(l.env()), v.CacheTTL.D(), v.Timeout.D(), node)
	l.drainer = nil
	if err == nil {
		l.drainer = l.newDrainer(node)
	}
	l.needRefresh = true
	l.startConverge()
}

// view gathers what the STATUS= line says.
func (l *loop) view() statusView {
	v := statusView{Now: time.Now(), FailingCheck: l.failingCheck, ReloadErr: l.reloadErr, NextRetry: l.nextTry}
	if l.cfg.Enroot.Install {
		v.EnrootVersion = l.cfg.Enroot.Version
	}
	if l.cfg.Pyxis.Install {
		v.PyxisVersion = l.cfg.Pyxis.Version
	}
	for name, since := range l.failing {
		v.FailedSteps = append(v.FailedSteps, failedStep{name, since})
	}
	sortFailed(v.FailedSteps)
	if l.refErr != nil {
		v.CredsErr = l.refErr.Error()
	}
	if st, ok := l.credsStatus(); ok {
		v.Creds = &st
	}
	if !l.ready || l.reloading {
		word := map[bool]string{false: "starting", true: "reloading"}[l.reloading]
		v.Phase = word + ": " + map[phase]string{converging: "converging the node", refreshing: "refreshing ECR credentials", idle: "finishing"}[l.phase]
	}
	return v
}
