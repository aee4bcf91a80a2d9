package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// Against a real munged, slurmctld and slurmd: after apply, a job step run
// with the plugin's option gets it in its tasks, so slurmstepd loaded the
// plugin the agent built and wired, not only srun.
func TestPyxisJobGetsTheOption(t *testing.T) {
	slurm := testenv.StartSlurm(t)
	n := newPyxisNode(t, "container_scope: job")
	// Slurm's default plugstack sits beside slurm.conf: the site's own file,
	// which includes the one the agent manages.
	if err := os.WriteFile(filepath.Join(slurm.Dir, "plugstack.conf"), []byte("include "+n.host+"/etc/plugstack.conf\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLURM_CONF", slurm.Conf)
	n.apply(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	image := "nvcr.io#nvidia/pytorch:24.01-py3"
	cmd := exec.CommandContext(ctx, "srun", "-N1", "--container-image="+image, "printenv", pkgrepo.FixtureEnv)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != image {
		t.Fatalf("srun: %v\nstdout: %s\nstderr: %s\n%s", err, out, stderr.String(), slurm.Logs())
	}
}
