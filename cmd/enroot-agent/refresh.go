package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/credentials"
	"go.uber.org/zap"
)

// cmdRefresh refreshes every registry's token now. It exits 0 only when
// every registry got a fresh token and every credentials file holds it.
func cmdRefresh(g *globals, args []string) int {
	if code, ok := noArgs(g, "refresh", args); !ok {
		return code
	}
	cfg, ok := g.load()
	if !ok {
		return exitFailed
	}
	log, err := g.logger()
	if err != nil {
		fmt.Fprintf(g.stderr, "enroot-agent: %v\n", err)
		return exitUnknown
	}
	defer log.Sync()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if !refreshCredentials(ctx, g.stdout, cfg, g.root, log, false) {
		return exitFailed
	}
	return exitOK
}

// refreshCredentials runs one refresh (or, dry, says what it would do) and
// prints one report line in the style of the apply steps.
func refreshCredentials(ctx context.Context, w io.Writer, cfg config.Config, root config.Root, log *zap.Logger, dry bool) bool {
	r, err := credentials.NewRefresher(cfg, root, log)
	if err != nil {
		fmt.Fprintf(w, "%s %-16s %s: %v\n", marks[converge.Failed], "credentials", "failed", err)
		return false
	}
	if dry {
		fmt.Fprintf(w, "+ %-16s would refresh: a token for %s into %s\n", "credentials", registriesText(cfg), strings.Join(r.Files(), ", "))
		return true
	}
	err = r.RefreshNow(ctx)
	if err != nil {
		fmt.Fprintf(w, "%s %-16s %s: %v\n", marks[converge.Failed], "credentials", "failed", err)
	} else {
		fmt.Fprintf(w, "~ %-16s refreshed: %s\n", "credentials", expiries(r.Status()))
	}
	return err == nil
}

func registriesText(cfg config.Config) string {
	if len(cfg.ECR.Registries) == 0 {
		return "this node's own account registry (from IMDSv2)"
	}
	hosts := make([]string, len(cfg.ECR.Registries))
	for i, r := range cfg.ECR.Registries {
		hosts[i] = r.Host
	}
	return strings.Join(hosts, ", ")
}

// expiries lists each registry with its token's expiry and fingerprint.
func expiries(s credentials.Status) string {
	parts := make([]string, len(s.Registries))
	for i, r := range s.Registries {
		parts[i] = fmt.Sprintf("%s until %s (%s)", r.Host, r.ExpiresAt.UTC().Format(time.RFC3339), r.Fingerprint)
	}
	return strings.Join(parts, "; ")
}
