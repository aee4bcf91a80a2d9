package install_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/artifact"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/install"
	"go.uber.org/zap"
)

// TestSilentServerTimesOut runs the agent's own steps in-process, with the
// fetcher's timeouts shortened (the binary's are 10s/30s/60s), against a
// server that accepts connections and never answers.
func TestSilentServerTimesOut(t *testing.T) {
	srv := testenv.StartArtifactServer(t)
	cfg := config.Default()
	cfg.Enroot.Source = srv.URL + "v{version}/"
	cfg.Enroot.Checksums = map[string]string{}
	for name, data := range testenv.EnrootDebs(t, cfg.Enroot.Version) {
		srv.Put("v"+cfg.Enroot.Version+"/"+name, data)
		cfg.Enroot.Checksums[name] = sum(data)
		for i := 0; i < 4; i++ {
			srv.Fail("v"+cfg.Enroot.Version+"/"+name, pkgrepo.Fault{Hang: true})
		}
	}
	root := testenv.DebRoot(t)
	steps := install.Steps(cfg, &install.Node{Root: config.Root(root), Log: zap.NewNop()})
	for _, s := range steps {
		if p, ok := s.(*install.PackagesStep); ok {
			p.Fetcher.MinBackoff, p.Fetcher.MaxBackoff = 10*time.Millisecond, 20*time.Millisecond
			p.Fetcher.Timeouts = artifact.Timeouts{Connect: time.Second, Header: 200 * time.Millisecond, Stall: 200 * time.Millisecond}
		}
	}
	start := time.Now()
	rep := (&converge.Runner{Log: zap.NewNop()}).Run(context.Background(), steps)
	err := rep.Err()
	if err == nil || !strings.Contains(err.Error(), "no answer in time") || !strings.Contains(err.Error(), "gave up after 4 attempts") ||
		!strings.Contains(err.Error(), "nothing was installed") {
		t.Fatalf("err = %v", err)
	}
	// The configured timeouts ended each attempt: the defaults (30s per
	// silent attempt, 2m for four) would take twice this bound.
	if took := time.Since(start); took >= time.Minute {
		t.Fatalf("took %s: the configured timeouts were not used", took)
	}
	if v := installedVersion(t, root, "enroot"); v != "none" {
		t.Fatalf("enroot %s installed", v)
	}
}
