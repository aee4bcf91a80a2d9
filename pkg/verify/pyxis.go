package verify

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/pyxis"
)

// PyxisChecks look at what srun needs from Pyxis on this node: the plugin,
// built for the running Slurm; a plugstack that reaches it and loads nothing
// missing; slurmd restarted since either changed; and the memlock limit.
func PyxisChecks(cfg config.Config, root config.Root) []Check {
	p := cfg.Pyxis
	return []Check{
		Func{"pyxis-plugin", func(ctx context.Context) Result { return pyxisPlugin(ctx, cfg, root) }},
		Func{"pyxis-plugstack", func(context.Context) Result { return pyxisPlugstack(p, root) }},
		Func{"slurmd-pyxis-loaded", func(context.Context) Result { return slurmdLoaded(cfg, root) }},
		Func{"slurm-memlock", func(context.Context) Result { return slurmMemlock(p, root) }},
	}
}

const applyFix = "run `enroot-agent apply` (the daemon retries on its own)"

func pyxisPlugin(ctx context.Context, cfg config.Config, root config.Root) Result {
	plugin := filepath.Join(cfg.Pyxis.Libdir, pyxis.PluginName)
	if _, err := os.Stat(root.Path(plugin)); err != nil {
		return Failf(applyFix, "%s is missing: every srun, sbatch and salloc that loads it fails", plugin)
	}
	if !cfg.Pyxis.Install {
		return Ok(plugin + " is present (installed by someone else: pyxis.install is false)")
	}
	rec, err := pyxis.ReadRecord(root, cfg.StateDir)
	if err != nil || rec.PyxisVersion == "" {
		return Unknownf(applyFix, "no build record for %s in %s: cannot tell which Slurm it was built for", plugin, cfg.StateDir)
	}
	slurm, err := pyxis.DetectSlurm(ctx, root, cfg.Pyxis.SlurmPrefix)
	if err != nil {
		return Unknownf("check pyxis.slurm_prefix", "%v", err)
	}
	if rec.SlurmVersion != slurm.Version {
		return Failf(applyFix+"; it rebuilds Pyxis for the running Slurm", "%s was built for Slurm %s but Slurm %s runs here (from %s): Slurm refuses a plugin built for another release", plugin, rec.SlurmVersion, slurm.Version, slurm.From)
	}
	return Ok(fmt.Sprintf("%s is Pyxis %s built for Slurm %s", plugin, rec.PyxisVersion, slurm.Version))
}

func pyxisPlugstack(p config.Pyxis, root config.Root) Result {
	s, err := pyxis.Walk(root, p.Plugstack)
	if err != nil {
		return Unknownf("check that the agent can read "+p.Plugstack, "%v", err)
	}
	var broken []string
	for _, l := range s.Lines {
		if l.Kind == pyxis.Required && filepath.IsAbs(l.Path) && !regular(root.Path(l.Path)) {
			broken = append(broken, fmt.Sprintf("%s: required plugin %s does not exist", l.Where(), l.Path))
		}
	}
	broken = append(broken, s.Problems...)
	if len(broken) > 0 {
		return Failf("install the plugin on this node, or remove or comment out that line (every node reading this plugstack needs every required plugin)",
			"%s: srun, sbatch and salloc fail on this node", strings.Join(broken, "; "))
	}
	entry := pyxis.Entry(p.Libdir, p.Args)
	if msg := s.Check(entry); msg != "" {
		fix := applyFix
		if !p.PlugstackManaged {
			fix = fmt.Sprintf("on the node that manages %s (pyxis.plugstack_managed is false), add %q", p.Plugstack, entry.String())
		}
		return Failf(fix, "plugstack %s: %s", p.Plugstack, msg)
	}
	msg := fmt.Sprintf("%s loads %s (%s)", p.Plugstack, entry.Path, s.Plugins(pyxis.PluginName)[0].Where())
	if len(s.Invalid) > 0 {
		msg += fmt.Sprintf("; Slurm ignores %d invalid line(s), first %v", len(s.Invalid), s.Invalid[0])
	}
	return Ok(msg)
}

// slurmdLoaded compares the running slurmd's start time with the last change
// of the plugin or its plugstack file; it needs no systemd, so a slurmd an
// admin restarted by hand counts too. btime has a one-second resolution.
func slurmdLoaded(cfg config.Config, root config.Root) Result {
	started, running, err := pyxis.SlurmdStarted(root)
	if err != nil {
		return Unknownf("", "cannot tell when slurmd started: %v", err)
	}
	if !running {
		return Ok("slurmd is not running here; it loads the current Pyxis when it starts")
	}
	changed, err := pyxis.LastChange(root, cfg.Pyxis)
	if err != nil {
		return Unknownf("", "%v", err)
	}
	if started.Add(time.Second).Before(changed) {
		return Failf("systemctl restart slurmd (the agent does it itself when it can reach systemd over D-Bus)",
			"slurmd started at %s, before %s or its plugstack line changed at %s: it runs without them",
			started.UTC().Format(time.RFC3339), pyxis.PluginName, changed.UTC().Format(time.RFC3339))
	}
	return Ok("slurmd started after the last change of Pyxis or its plugstack line")
}

func slurmMemlock(p config.Pyxis, root config.Root) Result {
	conf := slurmConfPath(p, root)
	settings, err := pyxis.ReadSlurmConf(root, conf)
	if err != nil {
		return Unknownf("set SLURM_CONF for the agent, or pyxis.slurm_prefix", "cannot read slurm.conf: %v", err)
	}
	if msg := pyxis.MemlockAdvice(settings); msg != "" {
		// Unknown, not Fail: whether it hurts depends on the submitting
		// shell's memlock limit, which this node cannot see, and a fail
		// would drain every node of the cluster over one head-node setting.
		return Unknownf("on the head node, add PropagateResourceLimitsExcept=MEMLOCK to "+conf+" and run `scontrol reconfigure` (compute nodes must not edit the shared slurm.conf)",
			"%s: %s; where that limit is low (64 KiB by default), RDMA, EFA and NCCL in containers fail to pin memory", conf, msg)
	}
	return Ok(conf + " keeps MEMLOCK out of the propagated limits")
}

// slurmConfPath finds slurm.conf as Slurm's clients do: SLURM_CONF, else the
// build's sysconfdir, <prefix>/etc (ParallelCluster) or /etc/slurm (distros).
// Like every host path, it is read under --root.
func slurmConfPath(p config.Pyxis, root config.Root) string {
	if conf := os.Getenv("SLURM_CONF"); conf != "" {
		return conf
	}
	conf := filepath.Join(p.SlurmPrefix, "etc", "slurm.conf")
	if !regular(root.Path(conf)) && regular(root.Path("/etc/slurm/slurm.conf")) {
		return "/etc/slurm/slurm.conf"
	}
	return conf
}

func regular(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
