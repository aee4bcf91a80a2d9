package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake/slurm"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	agentnode "github.com/enroot-agent/enroot-agent/pkg/node"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// periodicRuns is how many periodic converges each benchmark run times.
const periodicRuns = 20

// BenchmarkPeriodicConverge: what converge.interval costs a converged node.
// A periodic converge is the daemon's Steps run again by the runner in the
// same process, so that is what is timed here, in this process, after a
// first run (the daemon's start-up converge, which fills the caches): CPU
// per run (getrusage, user+system), wall time, processes started (the
// counting wrappers on PATH, and srun itself, which the steps start by its
// absolute path), children's CPU as a cross-check that nothing else was
// started, and files changed.
func BenchmarkPeriodicConverge(b *testing.B) {
	for i := 0; i < b.N; i++ {
		n := newNode(b)
		healthy(b, n)
		n.apply(b)
		for _, kv := range n.env {
			if k, v, _ := strings.Cut(kv, "="); k == "PATH" || k == "SLURM_CONF" || k == "DBUS_SYSTEM_BUS_ADDRESS" {
				b.Setenv(k, v)
			}
		}
		cfg, err := config.Load(filepath.Join(n.root, "etc/enroot-agent/config.yaml"), true)
		if err != nil {
			b.Fatal(err)
		}
		log := infoLogger()
		nd := agentnode.New(cfg, config.Root(n.root), log, nil)
		runner := &converge.Runner{Log: log}
		firstStarts := n.started()
		converged(b, runner.Run(context.Background(), nd.Steps()))
		starts, before := n.started(), testenv.Snapshot(b, n.root)
		var cpus, walls []time.Duration
		var childCPU time.Duration
		for r := 0; r < periodicRuns; r++ {
			self, children := rusage(syscall.RUSAGE_SELF), rusage(syscall.RUSAGE_CHILDREN)
			start := time.Now()
			converged(b, runner.Run(context.Background(), nd.Steps()))
			walls = append(walls, time.Since(start))
			cpus = append(cpus, rusage(syscall.RUSAGE_SELF)-self)
			childCPU += rusage(syscall.RUSAGE_CHILDREN) - children
		}
		procs := sum(n.started()) - sum(starts)
		if procs > 0 {
			b.Logf("processes started by the periodic converges: %v (before them: %v)", n.started(), starts)
		}
		b.ReportMetric(ms(median(cpus)), "cpu_ms/run")
		b.ReportMetric(ms(median(walls)), "wall_ms/run")
		b.ReportMetric(float64(procs), "procs_started")
		b.ReportMetric(ms(childCPU), "children_cpu_ms")
		b.ReportMetric(float64(len(testenv.Changed(before, testenv.Snapshot(b, n.root)))), "file_changes")
		b.ReportMetric(float64(sum(starts)-sum(firstStarts)), "first_run_procs")
	}
}

// converged fails the benchmark unless every step found its work done.
func converged(b *testing.B, rep converge.Report) {
	b.Helper()
	for _, r := range rep.Results {
		if r.Outcome != converge.Done {
			b.Fatalf("step %s: %s %v", r.Step, r.Outcome, r.Err)
		}
	}
}

// rusage is the user+system CPU time of who (this process, or its waited-for
// children).
func rusage(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// infoLogger logs as the daemon does (JSON, info), into nothing.
func infoLogger() *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zap.InfoLevel))
}

// healthy gives the node what its checks need to pass (a slurm.conf at
// SLURM_CONF, the namespace sysctls) and makes
// srun a counting wrapper: the steps start it by its absolute path, not
// through PATH.
func healthy(b *testing.B, n *node) {
	b.Helper()
	// srun reads SLURM_CONF as it is, the agent re-rooted: both find one.
	conf, err := slurm.Conf(b.TempDir(), "/opt/slurm/etc/plugstack.conf")
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(conf)
	if err != nil {
		b.Fatal(err)
	}
	writeFile(b, filepath.Join(n.root, conf), string(data))
	n.env = append(n.env, "SLURM_CONF="+conf)
	for _, key := range []string{"max_user_namespaces", "max_mnt_namespaces"} {
		testenv.MkdirAll(b, filepath.Join(n.root, "proc/sys/user"), 0o755)
		writeFile(b, filepath.Join(n.root, "proc/sys/user", key), "0\n")
	}
	srun := filepath.Join(n.root, "usr/bin/srun")
	if err := os.Remove(srun); err != nil {
		b.Fatal(err)
	}
	writeFile(b, srun, fmt.Sprintf("#!/bin/sh\necho srun >> %s\nexec /usr/bin/srun \"$@\"\n", n.counts))
	if err := os.Chmod(srun, 0o755); err != nil {
		b.Fatal(err)
	}
}
