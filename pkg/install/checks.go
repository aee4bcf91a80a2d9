package install

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"go.uber.org/zap"
)

// EnrootBinary is where both the rpm and the deb packages put enroot.
const EnrootBinary = "/usr/bin/enroot"

// Checks look at what a job needs from Enroot on this node: the
// configured version, runnable; enroot.conf as the agent renders it; the
// namespace limits; and whether the installed packages were verified.
func Checks(cfg config.Config, root config.Root) []verify.Check {
	return []verify.Check{
		verify.Func{CheckName: "enroot-version", Fn: func(ctx context.Context) verify.Result { return enrootVersion(ctx, cfg.Enroot, root) }},
		verify.Func{CheckName: "enroot-conf", Fn: func(ctx context.Context) verify.Result { return enrootConf(ctx, cfg, root) }},
		verify.Func{CheckName: "enroot-namespaces", Fn: func(context.Context) verify.Result { return enrootNamespaces(root) }},
		verify.Func{CheckName: "enroot-pinned", Fn: func(context.Context) verify.Result { return enrootPinned(cfg, root) }},
		verify.Func{CheckName: "enroot-user-dirs", Fn: func(context.Context) verify.Result { return enrootUserDirs(cfg, root) }},
	}
}

// enrootVersion runs `enroot version`: a package database entry does not
// prove the script runs (a missing bash, a broken library path).
func enrootVersion(ctx context.Context, e config.Enroot, root config.Root) verify.Result {
	fix := verify.ApplyFix
	if !e.Install {
		fix = "install enroot " + e.Version + " (enroot.install is false: the agent does not)"
	}
	if problem, pfix, err := PackageProblem(ctx, root); err != nil {
		return verify.Unknownf("check the package database", "%v", err)
	} else if problem != "" {
		return verify.Failf(pfix, "%s", problem)
	}
	bin := root.Path(EnrootBinary)
	if _, err := os.Stat(bin); err != nil {
		return verify.Failf(fix, "%s is missing: srun --container-image cannot work", EnrootBinary)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// enroot creates its runtime, cache and data directories before it even
	// parses the command; aim them at a scratch dir so verify leaves no trace
	// (the environment beats enroot.conf, so this overrides the file).
	scratch, err := os.MkdirTemp("", "enroot-agent-verify-")
	if err != nil {
		return verify.Unknownf("check the temp dir", "%v", err)
	}
	defer os.RemoveAll(scratch)
	cmd := exec.CommandContext(ctx, bin, "version")
	cmd.Env = append(os.Environ(), "ENROOT_RUNTIME_PATH="+scratch+"/runtime",
		"ENROOT_CACHE_PATH="+scratch+"/cache", "ENROOT_DATA_PATH="+scratch+"/data")
	out, err := cmd.CombinedOutput()
	got := strings.TrimSpace(string(out))
	switch {
	case err != nil:
		return verify.Failf(fix, "`enroot version` failed: %v: %s", err, firstLine(got))
	case !VersionAccepted(e, got):
		return verify.Failf(fix, "enroot %s runs here, enroot.version is %s (version_policy: %s)", firstLine(got), e.Version, e.VersionPolicy)
	}
	return verify.Ok("enroot " + got + " runs")
}

// enrootConf compares enroot.conf with what the agent renders, through the
// agent's own step, and names the keys that differ.
func enrootConf(ctx context.Context, cfg config.Config, root config.Root) verify.Result {
	step := &ConfStep{Node: &Node{Root: root, Log: zap.NewNop()},
		Conf: MergeConf(cfg.Enroot.Conf, cfg.Credentials.EnrootConfigPath)}
	plan, err := step.Plan(ctx)
	if err != nil {
		return verify.Unknownf("check enroot.conf in the agent's config", "cannot render enroot.conf: %v", err)
	}
	if plan.Done() {
		return verify.Ok(EnrootConfPath + " is as configured")
	}
	return verify.Failf(verify.ApplyFix+"; change keys in the agent's config, not in the file", "%s %s", EnrootConfPath, plan.Reason)
}

func enrootNamespaces(root config.Root) verify.Result {
	var msgs []string
	for _, s := range Namespaces {
		v, ok, err := ReadSysctl(root, s)
		switch {
		case err != nil:
			return verify.Unknownf("check that the agent can read "+s.ProcPath(), "%s: %v", s.Key, err)
		case !ok:
			return verify.Failf("boot a kernel with user namespaces (CONFIG_USER_NS)", "%s does not exist: the kernel has no user namespaces, and enroot needs them", s.ProcPath())
		case v == 0:
			return verify.Failf(verify.ApplyFix+" (it sets "+SysctlFile+")", "%s is 0: enroot cannot create containers", s.Key)
		}
		msgs = append(msgs, fmt.Sprintf("%s=%d", s.Key, v))
	}
	if r, blocked := apparmorBlocks(root); blocked {
		return r
	}
	return verify.Ok(strings.Join(msgs, ", "))
}

// apparmorBlocks catches Ubuntu 23.10+, where AppArmor denies unprivileged
// user namespaces to any program without a profile allowing them; enroot's
// deb ships /etc/apparmor.d/enroot for that.
func apparmorBlocks(root config.Root) (verify.Result, bool) {
	data, err := os.ReadFile(root.Path("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"))
	if err != nil || strings.TrimSpace(string(data)) != "1" {
		return verify.Result{}, false
	}
	if _, err := os.Stat(root.Path("/etc/apparmor.d/enroot")); err == nil {
		return verify.Result{}, false
	}
	return verify.Failf("install enroot 3.5 or later from its .deb (it ships /etc/apparmor.d/enroot) and reload AppArmor",
		"AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1) and no /etc/apparmor.d/enroot profile exists: enroot cannot start containers"), true
}

// enrootPinned reports an install no digest vouched for. It stays ok: an
// unpinned download is the default (NVIDIA publishes no checksums), and a
// node must not be drained for it; the message says so plainly.
func enrootPinned(cfg config.Config, root config.Root) verify.Result {
	rec, ok, err := ReadRecord(root.Path(filepath.Join(cfg.StateDir, RecordFile)))
	switch {
	case err != nil:
		return verify.Unknownf(verify.ApplyFix, "%v", err)
	case !ok:
		return verify.Ok("no enroot package was installed by the agent")
	}
	if names := rec.Unpinned(); len(names) > 0 {
		r := verify.Ok(fmt.Sprintf("unpinned: enroot %s was installed from %s with no sha256 to check it against", rec.Version, strings.Join(names, ", ")))
		r.Fix = "pin the digests in enroot.checksums (or publish a SHA256SUMS beside the packages), and set enroot.require_checksums: true"
		return r
	}
	return verify.Ok(fmt.Sprintf("enroot %s packages were verified (sha256)", rec.Version))
}

// enrootUserDirs catches a user who created another user's per-user enroot
// directory in a shared 1777 parent before that user did.
func enrootUserDirs(cfg config.Config, root config.Root) verify.Result {
	bad, err := SquattedDirs(root, MergeConf(cfg.Enroot.Conf, cfg.Credentials.EnrootConfigPath))
	switch {
	case err != nil:
		return verify.Unknownf("check that the agent can read the enroot directories", "%v", err)
	case len(bad) > 0:
		return verify.Failf("remove these directories (their owner may be tampering with another user's containers) and find out who made them",
			"per-user enroot directories owned by someone else: %s", strings.Join(bad, ", "))
	}
	return verify.Ok("every per-user enroot directory belongs to its user")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// EnrootPackages are the packages whose state the agent answers for.
var EnrootPackages = []string{"enroot", "enroot+caps"}

// BrokenPackage is an Enroot package that an interrupted or failed install
// left half-done: dpkg's unpacked (iU), half-configured (iF) or
// half-installed (iH) states, a reinstall-required flag, or with rpm two
// versions of one package installed at once (an upgrade transaction that
// never finished). The files may be on disk, so `enroot version` can even
// answer, but the package is not usable as installed.
type BrokenPackage struct {
	Name, Version, State string
}

func (b BrokenPackage) String() string {
	return fmt.Sprintf("%s %s is %s", b.Name, b.Version, b.State)
}

// halfDone says, for dpkg's states of a package that did not finish
// installing, what the state means; half is false for any other state.
func halfDone(state string) (words string, half bool) {
	switch state {
	case "unpacked":
		return "unpacked but not configured (dpkg iU)", true
	case "half-configured":
		return "half-configured (dpkg iF)", true
	case "half-installed":
		return "half-installed (dpkg iH)", true
	}
	return "", false
}

// brokenPackages looks for Enroot packages left half-done under pm.
func brokenPackages(ctx context.Context, pm PackageManager) ([]BrokenPackage, error) {
	switch m := pm.(type) {
	case *dpkg:
		db, err := m.statusDB(ctx)
		if err != nil {
			return nil, err
		}
		return brokenDebs(db), nil
	case *rpm:
		return m.duplicates(ctx)
	}
	return nil, nil
}

func brokenDebs(db []debPkg) []BrokenPackage {
	var out []BrokenPackage
	for _, p := range db {
		if !slices.Contains(EnrootPackages, p.Name) {
			continue
		}
		state, half := halfDone(p.State())
		if !half && strings.Contains(p.Status, "reinstreq") {
			state, half = "marked reinstall-required by dpkg", true
		}
		if half {
			out = append(out, BrokenPackage{Name: p.Name, Version: p.Version, State: state})
		}
	}
	return out
}

// duplicates finds an Enroot package installed at two versions at once.
func (m *rpm) duplicates(ctx context.Context) ([]BrokenPackage, error) {
	var out []BrokenPackage
	for _, name := range EnrootPackages {
		text, err := m.run(ctx, Cmd{Args: m.rpmArgs("-q", "--qf", "%{VERSION}-%{RELEASE}\\n", name)})
		if err != nil {
			continue // not installed (rpm -q exits 1), or Version reports the error
		}
		if versions := strings.Fields(string(text)); len(versions) > 1 {
			out = append(out, BrokenPackage{Name: name, Version: strings.Join(versions, " and "),
				State: "installed twice (an rpm upgrade transaction did not finish)"})
		}
	}
	return out, nil
}

// PackageProblem is what the enroot verify check reports about the package
// state: problem is "" when no Enroot package is half-done; fix says what
// repairs it. A node whose distribution cannot be told has nothing to say
// here (other checks report that).
func PackageProblem(ctx context.Context, root config.Root) (problem, fix string, err error) {
	n := &Node{Root: root, Log: zap.NewNop()}
	pm, err := n.PackageManager()
	if err != nil {
		return "", "", nil
	}
	broken, err := brokenPackages(ctx, pm)
	if err != nil || len(broken) == 0 {
		return "", "", err
	}
	parts := make([]string, len(broken))
	for i, b := range broken {
		parts[i] = b.String()
	}
	problem = strings.Join(parts, "; ") + ": a package install failed or was interrupted (often a missing dependency), and enroot may not work"
	fix = "run `enroot-agent apply` (it installs the missing dependencies and reinstalls enroot)"
	if _, ok := pm.(*dpkg); ok {
		fix += ", or by hand: apt-get install -f (then dpkg --configure -a)"
	} else {
		fix += ", or by hand: dnf distro-sync enroot (or rpm -e the older version)"
	}
	return problem, fix, nil
}
