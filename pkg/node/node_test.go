package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// The steps and checks of one Node share what they learn, however often
// the daemon runs them: srun is asked its version once, and a slurmd
// restart that cannot happen (no systemd bus) is logged once. A new Node,
// as a reloaded config or the next `apply` gets, starts afresh, except for
// srun's answer: it is kept in state_dir for as long as srun is the same
// file.
func TestNodeSharedAcrossRuns(t *testing.T) {
	root, cfg := sandbox(t)
	calls := filepath.Join(t.TempDir(), "srun-calls")
	srun := filepath.Join(root, "usr/bin/srun")
	if err := os.Remove(srun); err != nil {
		t.Fatal(err)
	}
	// The host's srun needs a cluster to answer; this one answers as the
	// host's headers (22.05.8) and counts.
	testenv.WriteFile(t, srun, []byte("#!/bin/sh\necho run >> "+calls+"\necho slurm 22.05.8\n"), 0o755)
	// A slurmd that started long before the agent built Pyxis.
	boot := time.Now().Add(-time.Hour).Unix()
	testenv.MkdirAll(t, filepath.Join(root, "proc/4242"), 0o755)
	testenv.WriteFile(t, filepath.Join(root, "proc/stat"), []byte(fmt.Sprintf("btime %d\n", boot)), 0o644)
	testenv.WriteFile(t, filepath.Join(root, "proc/4242/stat"), []byte("4242 (slurmd) S 1 4242 4242 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0"+
		" 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"), 0o644)
	core, logs := observer.New(zap.WarnLevel)
	n := New(cfg, config.Root(root), zap.New(core), nil)
	ctx := context.Background()
	for range 3 {
		(&converge.Runner{Log: zap.NewNop()}).Run(ctx, n.Steps())
		verify.RunAll(ctx, n.Checks())
	}
	runs := func() int {
		data, _ := os.ReadFile(calls)
		return strings.Count(string(data), "run")
	}
	if n := runs(); n != 1 {
		t.Errorf("srun --version ran %d times for 3 converges and 3 check runs of one Node, want 1", n)
	}
	if n := logs.FilterMessageSnippet("cannot restart slurmd").Len(); n != 1 {
		t.Errorf("%d warnings for one pending restart, want 1", n)
	}
	fresh := New(cfg, config.Root(root), zap.New(core), nil)
	verify.RunAll(ctx, fresh.Checks())
	(&converge.Runner{Log: zap.NewNop()}).Run(ctx, fresh.Steps())
	if n := runs(); n != 1 {
		t.Errorf("a new Node asked srun again (%d runs in all, want 1): the answer kept in state_dir was not used", n)
	}
	if n := logs.FilterMessageSnippet("cannot restart slurmd").Len(); n != 2 {
		t.Errorf("a new Node: %d warnings in all, want 2", n)
	}
}
