package main

import (
	"context"
	"fmt"
	"io"
	"strings"
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
	cfg, log, code := g.prepare(exitFailed)
	if log == nil {
		return code
	}
	defer log.Sync()
	ctx, stop := interruptible()
	defer stop()
	if !refreshCredentials(ctx, g.stdout, cfg, g.root, log, refreshNow) {
		return exitFailed
	}
	return exitOK
}

type refreshMode int

const (
	refreshNow refreshMode = iota // `refresh`: always call ECR
	refreshDue                    // `apply`: only when a token is missing or due
	refreshDry                    // `apply --dry-run`: say what would happen
)

// refreshCredentials runs one refresh and prints one report line in the
// style of the apply steps.
func refreshCredentials(ctx context.Context, w io.Writer, cfg config.Config, root config.Root, log *zap.Logger, mode refreshMode) bool {
	const name = "credentials"
	r, err := credentials.NewRefresher(cfg, root, log)
	if err != nil {
		fmt.Fprintf(w, "%s %-16s failed: %v\n", mark(converge.Failed), name, err)
		return false
	}
	asked := true // a refresh was due and ECR was asked
	switch mode {
	case refreshDry:
		fmt.Fprintf(w, "%s %-16s planned: would refresh the token for %s (unless still fresh) into %s\n",
			mark(converge.Planned), name, registriesText(cfg), strings.Join(r.Files(), ", "))
		return true
	case refreshDue:
		asked, err = r.Ensure(ctx)
	default:
		err = r.RefreshNow(ctx)
	}
	switch {
	case err != nil:
		fmt.Fprintf(w, "%s %-16s failed: %v\n", mark(converge.Failed), name, err)
	case asked:
		fmt.Fprintf(w, "%s %-16s changed: refreshed %s\n", mark(converge.Changed), name, expiries(r.Status()))
	case len(r.Rewritten()) > 0:
		fmt.Fprintf(w, "%s %-16s changed: rewrote %s (content, mode or owner; tokens still fresh)\n", mark(converge.Changed), name, strings.Join(r.Rewritten(), ", "))
	default:
		fmt.Fprintf(w, "%s %-16s done\n", mark(converge.Done), name)
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
