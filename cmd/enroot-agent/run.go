package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/enroot-agent/enroot-agent/pkg/agent"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"go.uber.org/zap"
)

// exitConfig (EX_CONFIG) is how `run` says the config is invalid; the unit's
// RestartPreventExitStatus keeps systemd from restarting into the same error.
const exitConfig = 78

func cmdRun(g *globals, args []string) int {
	if code, ok := noArgs(g, "run", args); !ok {
		return code
	}
	// Registered before anything slow, so an early SIGHUP is queued, not fatal.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, stop := interruptible()
	defer stop()

	notifier := agent.SystemdNotifier{}
	cfg, err := g.readConfig()
	if err != nil {
		g.load() // prints every problem to stderr, which is the journal
		_ = notifier.Notify("STATUS=failed: " + configProblem(err))
		return exitConfig
	}
	log, err := g.logger()
	if err != nil {
		fmt.Fprintf(g.stderr, "enroot-agent: %v\n", err)
		return exitUnknown
	}
	defer log.Sync()
	watchdog, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("ignoring systemd's watchdog settings", zap.Error(err))
	}
	d := &agent.Daemon{
		Root: g.root, Log: log, Version: version, Notifier: notifier, Watchdog: watchdog,
		LoadConfig: g.readConfig, NewRefresher: agent.NewCredentialsRefresher,
	}
	if err := d.Run(ctx, cfg, hup); err != nil {
		log.Error("cannot start", zap.Error(err))
		return exitFailed
	}
	return exitOK
}

// configProblem is one line for STATUS=: how many problems, and the first.
func configProblem(err error) string {
	var errs config.Errors
	if errors.As(err, &errs) && len(errs) > 0 {
		return fmt.Sprintf("invalid config, %d problem(s), first: %s", len(errs), errs[0])
	}
	return err.Error()
}
