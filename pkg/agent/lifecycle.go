package agent

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"go.uber.org/zap"
)

// setup builds the checks, metrics and drainer and binds the listener.
func (l *loop) setup() error {
	err := l.prepare()
	if err != nil {
		return err
	}
	v := l.cfg.Verify
	h := handler(l.checks.cache, l.alive, l.serve.metrics.Registry)
	if l.serve.srv, err = listen(v.Listen, h, l.log); err != nil {
		return err
	}
	l.serve.listeners.set("verify.listen", l.serve.srv.err)
	// Without the socket the CLI evaluates locally: slower, never wrong.
	if l.serve.sock, err = listenSocket(l.d.Root, h, l.log); err != nil {
		l.log.Warn("no root-only verify socket; `enroot-agent verify` will run the checks itself", zap.Error(err))
	} else {
		l.serve.listeners.set("the verify socket", l.serve.sock.err)
	}
	l.startImages()
	return nil
}

// prepare builds the checks, the drainer and the metrics.
func (l *loop) prepare() error {
	node, err := slurm.NodeName(l.cfg.Verify.NodeName)
	if err != nil {
		return err
	}
	l.setupChecks(node)
	l.serve.metrics = NewMetrics(l.d.Version, l.checks.cache, l.credsStatus, &l.serve.probes, l.serve.drained.Load)
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
		l.serve.srv.close(ctx)
	}
	if l.serve.sock != nil {
		l.serve.sock.close(ctx)
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
	l.env = l.newEnv(cfg)
	l.stopImages()
	l.startImages()
	node, err := slurm.NodeName(cfg.Verify.NodeName)
	if err != nil {
		l.log.Warn("no node name; draining is off", zap.Error(err))
		node = ""
	}
	l.setupChecks(node)
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
		v.FailingCheck, v.CheckStatus = RootCause(rep.Results), rep.Status
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
