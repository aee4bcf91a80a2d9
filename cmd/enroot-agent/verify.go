package main

import (
	"context"
	"fmt"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/agent"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/node"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"go.uber.org/zap"
)

// cmdVerify runs the checks through the daemon when it answers (so a
// health-check storm shares its cache), locally otherwise. Exit 0 ok, 1 a
// check fails, 2 a check cannot tell: usable as Slurm's HealthCheckProgram.
func cmdVerify(g *globals, args []string) int {
	fs := g.flags("verify")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	drain := fs.Bool("drain", false, "drain the node in Slurm while a check fails; resume it when healthy (only our own drain)")
	local := fs.Bool("local", false, "run the checks here even when the daemon is running")
	if !parsed(fs, args) {
		return exitUnknown
	}
	cfg, log, code := g.prepare(exitUnknown)
	if log == nil {
		return code
	}
	defer log.Sync()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Verify.Timeout.D()+5*time.Second)
	defer cancel()
	rep, where := evaluate(ctx, g, cfg, log, *local)
	if *drain {
		if err := drainSync(ctx, g.root, cfg, log, rep); err != nil {
			fmt.Fprintf(g.stderr, "enroot-agent verify: %v\n", err)
		}
	}
	if *asJSON {
		_ = verify.WriteJSON(g.stdout, rep)
	} else {
		verify.WriteTable(g.stdout, rep, where)
	}
	return int(rep.Status)
}

func evaluate(ctx context.Context, g *globals, cfg config.Config, log *zap.Logger, local bool) (verify.Report, string) {
	if !local {
		rep, err := verify.Ask(ctx, g.root.Path(verify.DaemonSocket))
		if err == nil {
			return rep, "by the daemon on " + verify.DaemonSocket
		}
		log.Debug("daemon not reachable; checking locally", zap.Error(err))
	}
	name, _ := slurm.NodeName(cfg.Verify.NodeName)
	// The steps' own log lines would bury the table; --debug shows them.
	stepLog := zap.NewNop()
	if g.debug {
		stepLog = log
	}
	cache := verify.NewCache(node.New(cfg, g.root, stepLog, nil).Checks(), 0, cfg.Verify.Timeout.D(), name)
	rep, err := cache.Get(ctx)
	if err != nil {
		rep = verify.Report{Status: verify.Unknown, Node: name}
	}
	return rep, "locally"
}

func drainSync(ctx context.Context, root config.Root, cfg config.Config, log *zap.Logger, rep verify.Report) error {
	node, err := slurm.NodeName(cfg.Verify.NodeName)
	if err != nil {
		return err
	}
	_, err = (&agent.Drainer{Node: node, Log: log, Scontrol: slurm.ScontrolPath(root, cfg.Pyxis.SlurmPrefix)}).Sync(ctx, rep)
	return err
}
