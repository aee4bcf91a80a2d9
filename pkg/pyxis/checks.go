package pyxis

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// Checks look at what srun needs from Pyxis on this node: the plugin,
// built for the running Slurm; a plugstack that reaches it and loads nothing
// missing; slurmd restarted since either changed; and the memlock limit.
// sl is the daemon's Slurm detector, shared with the build steps.
func Checks(cfg config.Config, root config.Root, sl *slurm.Detector) []verify.Check {
	p := cfg.Pyxis
	checks := []verify.Check{
		verify.Func{CheckName: "pyxis-plugin", Fn: func(ctx context.Context) verify.Result { return pyxisPlugin(ctx, cfg, root, sl) }},
		verify.Func{CheckName: "pyxis-plugstack", Fn: func(context.Context) verify.Result { return pyxisPlugstack(p, root) }},
		verify.Func{CheckName: "slurmd-pyxis-loaded", Fn: func(context.Context) verify.Result { return slurmdLoaded(cfg, root) }},
		verify.Func{CheckName: "slurm-memlock", Fn: func(context.Context) verify.Result { return slurmMemlock(p, root) }},
	}
	if p.Install && p.SharedDir != "" {
		checks = append(checks, verify.Func{CheckName: CheckShared, Fn: func(ctx context.Context) verify.Result { return sharedCheck(ctx, cfg, root, sl) }})
	}
	return checks
}

func pyxisPlugin(ctx context.Context, cfg config.Config, root config.Root, detector *slurm.Detector) verify.Result {
	plugin := filepath.Join(cfg.Pyxis.Libdir, PluginName)
	if _, err := os.Stat(root.Path(plugin)); err != nil {
		return verify.Failf(verify.ApplyFix, "%s is missing: every srun, sbatch and salloc that loads it fails", plugin)
	}
	if !cfg.Pyxis.Install {
		return verify.Ok(plugin + " is present (installed by someone else: install is false)")
	}
	rec, err := ReadRecord(root, cfg.StateDir)
	if err != nil || rec.PyxisVersion == "" {
		return verify.Unknownf(verify.ApplyFix, "no build record for %s in %s: cannot tell which Slurm it was built for", plugin, cfg.StateDir)
	}
	sl, err := detector.Detect(ctx, root, cfg.Pyxis.SlurmPrefix)
	if err != nil {
		return verify.Unknownf("check slurm_prefix", "%v", err)
	}
	if slurm.Release(rec.SlurmVersion) != sl.Release() {
		return verify.Failf(verify.ApplyFix+"; it rebuilds Pyxis for the running Slurm", "%s was built for Slurm %s but Slurm %s runs here (from %s): Slurm refuses a plugin built for another release", plugin, rec.SlurmVersion, sl.Version, sl.From)
	}
	built := fmt.Sprintf("Slurm %s", sl.Version)
	if rec.SlurmVersion != sl.Version {
		built = fmt.Sprintf("Slurm %s (Slurm %s runs here: the same release %s, which loads it)", rec.SlurmVersion, sl.Version, sl.Release())
	}
	msg := fmt.Sprintf("%s is Pyxis %s built for %s", plugin, rec.PyxisVersion, built)
	if rec.Origin != "" {
		msg += ", " + rec.Origin
	}
	if rec.SharedNote != "" {
		msg += " (no shared build used: " + rec.SharedNote + ")"
	}
	return verify.Ok(msg)
}

func pyxisPlugstack(p config.Pyxis, root config.Root) verify.Result {
	s, err := Walk(root, p.Plugstack)
	if err != nil {
		return verify.Unknownf("check that the agent can read "+p.Plugstack, "%v", err)
	}
	var broken []string
	for _, l := range s.Lines {
		if l.Kind == Required && filepath.IsAbs(l.Path) && !slurm.Regular(root.Path(l.Path)) {
			broken = append(broken, fmt.Sprintf("%s: required plugin %s does not exist", l.Where(), l.Path))
		}
	}
	broken = append(broken, s.Problems...)
	if len(broken) > 0 {
		return verify.Failf("install the plugin on this node, or remove or comment out that line (every node reading this plugstack needs every required plugin)",
			"%s: srun, sbatch and salloc fail on this node", strings.Join(broken, "; "))
	}
	entry := Entry(p.Libdir, p.Args)
	if msg := s.Check(entry); msg != "" {
		fix := verify.ApplyFix
		if !p.PlugstackManaged {
			fix = fmt.Sprintf("on the node that manages %s (plugstack_managed is false), add %q", p.Plugstack, entry.String())
		}
		return verify.Failf(fix, "plugstack %s: %s", p.Plugstack, msg)
	}
	msg := fmt.Sprintf("%s loads %s (%s)", p.Plugstack, entry.Path, s.Plugins(PluginName)[0].Where())
	if len(s.Invalid) > 0 {
		msg += fmt.Sprintf("; Slurm ignores %d invalid line(s), first %v", len(s.Invalid), s.Invalid[0])
	}
	return verify.Ok(msg)
}

// slurmdLoaded compares the running slurmd's start time with the last change
// of the plugin or its plugstack file; it needs no systemd, so a slurmd an
// admin restarted by hand counts too. btime has a one-second resolution.
func slurmdLoaded(cfg config.Config, root config.Root) verify.Result {
	started, running, err := slurm.SlurmdStarted(root)
	if err != nil {
		return verify.Unknownf("", "cannot tell when slurmd started: %v", err)
	}
	if !running {
		return verify.Ok("slurmd is not running here; it loads the current Pyxis when it starts")
	}
	changed, err := LastChange(root, cfg.Pyxis)
	if err != nil {
		return verify.Unknownf("", "%v", err)
	}
	if startedBefore(started, changed) {
		return verify.Failf("systemctl restart slurmd (the agent does it itself when it can reach systemd over D-Bus)",
			"slurmd started at %s, before %s or its plugstack line changed at %s: it runs without them",
			started.UTC().Format(time.RFC3339), PluginName, changed.UTC().Format(time.RFC3339))
	}
	return verify.Ok("slurmd started after the last change of Pyxis or its plugstack line")
}

// startedBefore reports whether slurmd started before the plugin or its
// plugstack line changed, allowing for btime's one-second resolution.
func startedBefore(started, changed time.Time) bool {
	return started.Add(time.Second).Before(changed)
}

func slurmMemlock(p config.Pyxis, root config.Root) verify.Result {
	conf := slurm.SlurmConfPath(p.SlurmPrefix, root)
	settings, err := slurm.ReadConf(root, conf)
	if err != nil {
		return verify.Unknownf("set SLURM_CONF for the agent, or slurm_prefix", "cannot read slurm.conf: %v", err)
	}
	if msg := slurm.MemlockAdvice(settings); msg != "" {
		// Unknown, not Fail: whether it hurts depends on the submitting
		// shell's memlock limit, which this node cannot see, and a fail
		// would drain every node of the cluster over one head-node setting.
		return verify.Unknownf("on the head node, add PropagateResourceLimitsExcept=MEMLOCK to "+conf+" and run `scontrol reconfigure` (compute nodes must not edit the shared slurm.conf)",
			"%s: %s; where that limit is low (64 KiB by default), RDMA, EFA and NCCL in containers fail to pin memory", conf, msg)
	}
	return verify.Ok(conf + " keeps MEMLOCK out of the propagated limits")
}

// LastChange is when the plugin, or a plugstack file loading it, last
// changed: slurmd must have started after that to run them.
func LastChange(root config.Root, cfg config.Pyxis) (time.Time, error) {
	files := []string{filepath.Join(cfg.Libdir, PluginName)}
	s, err := Walk(root, cfg.Plugstack)
	if err != nil {
		return time.Time{}, err
	}
	for _, l := range s.Plugins(PluginName) {
		files = append(files, l.File)
	}
	var last time.Time
	for _, f := range files {
		if st, err := os.Stat(root.Path(f)); err == nil && st.ModTime().After(last) {
			last = st.ModTime()
		}
	}
	return last, nil
}

// CheckShared is the check's name: it reports the shared build for this
// node's key as it is now.
const CheckShared = "pyxis-shared-build"

// sharedCheck looks at pyxis.shared_dir the way a node that needs a build
// would: unknown (an advisory: this node's own plugin is unaffected, and
// pyxis-plugin says so) when the directory is not root's alone or the
// build for this node's key does not verify, so every node needing it
// compiles its own and the admin should find out who changed it; ok
// otherwise. It reads the record and stats the plugin; the plugin's sha256
// is checked by every copy.
func sharedCheck(ctx context.Context, cfg config.Config, root config.Root, detector *slurm.Detector) verify.Result {
	s := NewShared(cfg.Pyxis, root, nil)
	sl, err := detector.Detect(ctx, root, cfg.Pyxis.SlurmPrefix)
	if err != nil {
		return verify.Unknownf("check slurm_prefix", "%v", err)
	}
	key := Key(cfg.Pyxis, root, sl)
	srec, err := s.Look(key)
	var ref *RefusedError
	switch {
	case errors.Is(err, errSharedOff):
		return verify.Ok(fmt.Sprintf("%s does not exist: no shared filesystem there, so every node builds its own Pyxis", filepath.Dir(s.Dir)))
	case errors.As(err, &ref) && ref.Untrusted:
		return verify.Unknownf(fmt.Sprintf("make every directory above %s root's and writable by root alone (chown root:root, chmod go-w), "+
			"or set pyxis.shared_dir to a directory that is (\"\" turns sharing off)", s.Dir), "%v; every node builds its own Pyxis", err)
	case errors.As(err, &ref):
		return verify.Unknownf(fmt.Sprintf("remove %s (rm -r, as root on a node that can write it; the next node that needs it builds it again) "+
			"and find out who changed it", s.Entry(key)), "the shared build does not verify: %v; nodes that need it build their own", err)
	case errors.Is(err, errNoBuild):
		return verify.Ok(fmt.Sprintf("no shared build %s yet (Slurm %s, %s, %s): the first node that needs one builds it there", key.Name(), key.SlurmRelease, key.Arch, key.OS))
	case err != nil:
		return verify.Unknownf("", "cannot read the shared build: %v", err)
	}
	msg := fmt.Sprintf("%s holds Pyxis %s for Slurm %s (%s, %s), built by %s", s.Entry(key), key.PyxisVersion, key.SlurmRelease, key.Arch, key.OS, srec.BuiltBy)
	if rec, err := ReadRecord(root, cfg.StateDir); err == nil && rec.PluginSHA256 != "" {
		if rec.PluginSHA256 == srec.PluginSHA256 {
			msg += "; this node's plugin is that build"
		} else {
			msg += "; this node's plugin is another build (" + rec.Origin + ")"
		}
	}
	return verify.Ok(msg)
}
