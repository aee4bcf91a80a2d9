package slurm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"github.com/prometheus/procfs"
)

// userHZ is the unit of /proc/<pid>/stat's start time: USER_HZ, fixed at
// 100 in the kernel ABI of every architecture Slurm nodes run on.
const userHZ = 100

// SlurmdStarted returns when the oldest running slurmd started (the main
// daemon; its forks are younger), and false when none runs. proc is /proc,
// re-rooted like every host path.
func SlurmdStarted(root config.Root) (time.Time, bool, error) {
	_, started, running, err := slurmdProcess(root)
	return started, running, err
}

// SlurmdEnviron is the environment the running slurmd was started with (its
// /proc/<pid>/environ, which only root can read) and its pid; false when no
// slurmd runs.
func SlurmdEnviron(root config.Root) (map[string]string, int, bool, error) {
	pid, _, running, err := slurmdProcess(root)
	if err != nil || !running {
		return nil, 0, running, err
	}
	data, err := os.ReadFile(root.Path(fmt.Sprintf("/proc/%d/environ", pid)))
	if err != nil {
		return nil, pid, true, err
	}
	return ParseEnviron(data), pid, true, nil
}

// slurmdProcess finds the oldest running slurmd: its pid and start time.
// /proc is read with procfs at root's /proc, so --root re-roots it too.
func slurmdProcess(root config.Root) (int, time.Time, bool, error) {
	procDir := root.Path("/proc")
	proc, err := procfs.NewFS(procDir)
	if err != nil {
		return 0, time.Time{}, false, nil // no /proc: no slurmd we could see
	}
	stat, err := proc.Stat()
	if errors.Is(err, fs.ErrNotExist) {
		return 0, time.Time{}, false, nil
	}
	if err != nil || stat.BootTime == 0 {
		return 0, time.Time{}, false, fmt.Errorf("%s/stat has no btime: %v", procDir, err)
	}
	procs, err := proc.AllProcs()
	if err != nil {
		return 0, time.Time{}, false, fmt.Errorf("list %s: %w", procDir, err)
	}
	var oldest uint64
	pid := 0
	for _, p := range procs {
		st, err := p.Stat()
		// Any user can name a process slurmd: only root's (or, in tests,
		// the agent's own user's) is the daemon. An error is a process
		// that ended meanwhile.
		if err != nil || st.Comm != "slurmd" || !trustedProc(filepath.Join(procDir, strconv.Itoa(p.PID))) {
			continue
		}
		if pid == 0 || st.Starttime < oldest {
			oldest, pid = st.Starttime, p.PID
		}
	}
	if pid == 0 {
		return 0, time.Time{}, false, nil
	}
	boot := time.Unix(int64(stat.BootTime), 0)
	return pid, boot.Add(time.Duration(oldest) * time.Second / userHZ), true, nil
}

// trustedProc reports a /proc/<pid> directory owned by root or by the
// agent's own user.
func trustedProc(dir string) bool {
	st, err := os.Stat(dir)
	if err != nil {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && (sys.Uid == 0 || int(sys.Uid) == os.Geteuid())
}

// StepSlurmdPath is the name of the step that puts Slurm's bin on slurmd's PATH.
const StepSlurmdPath = "slurmd-path"

const (
	// PathDropIn is the drop-in the agent writes when slurmd's unit reads no
	// environment file of the usual names. Drop-ins apply in name order and
	// the last PATH wins, hence "zz".
	PathDropIn = "/etc/systemd/system/slurmd.service.d/zz-enroot-agent-path.conf"
	// pathMarker opens the comment above the PATH the agent manages.
	pathMarker = "# enroot-agent: "
	pathNote   = pathMarker + "Slurm's bin on slurmd's PATH: Enroot's Slurm hooks run scontrol as the job's user\n"
)

// envFiles are the environment files slurmd units conventionally read:
// Slurm's own unit reads both (Debian's /etc/default last),
// ParallelCluster's only /etc/sysconfig/slurmd.
var envFiles = []string{"/etc/sysconfig/slurmd", "/etc/default/slurmd"}

// PathStep keeps Slurm's bin on the PATH slurmd starts with. slurmstepd,
// and so Pyxis and enroot, inherit slurmd's PATH, not the job's: Enroot
// 4.1.2's 50-slurm-pmi.sh fails PMIx jobs with "Command not found:
// scontrol" without it, and 50-slurm-pytorch.sh silently sets no
// MASTER_ADDR. The fix goes where the node's slurmd unit reads its
// environment; slurmd-restart (pkg/pyxis) then restarts slurmd.
type PathStep struct {
	Root   config.Root
	Prefix string // pyxis.slurm_prefix: scontrol is in its bin
}

func (s *PathStep) Name() string { return StepSlurmdPath }

// Dir is the directory slurmd's PATH must reach.
func (s *PathStep) Dir() string { return filepath.Join(s.Prefix, "bin") }

// pathFix is where slurmd's PATH comes from and what the agent would write.
type pathFix struct {
	Unit bool   // slurmd.service exists
	Path string // the PATH the unit gives slurmd now
	From string // where that PATH is set: an environment file, "Environment=" or "" (systemd's default)
	File string // host path the agent writes; "" when nothing needs writing
	Want []byte
}

// Plan writes the PATH where the unit reads it when slurmd would start
// without Slurm's bin on it. Without a slurmd unit there is nothing to
// write to: the slurmd-path check then reports the running slurmd.
func (s *PathStep) Plan(context.Context) (*converge.Plan, error) {
	fix, err := s.fix()
	if err != nil || fix.File == "" {
		return &converge.Plan{}, err
	}
	f := &converge.File{StepName: StepSlurmdPath, Path: s.Root.Path(fix.File), Opts: atomicfile.Default}
	write, err := f.PlanContent(fix.Want)
	if err != nil || write.Done() {
		return write, err
	}
	reason := fmt.Sprintf("slurmd would start with PATH=%s, without %s (Enroot's Slurm hooks run scontrol)", fix.Path, s.Dir())
	return converge.NewPlan(reason, write.Changes, func(ctx context.Context) error {
		if err := atomicfile.MkdirIfMissing(filepath.Dir(f.Path)); err != nil {
			return err
		}
		return write.Apply(ctx)
	}), nil
}

func (s *PathStep) fix() (pathFix, error) {
	u, ok, err := ReadUnit(s.Root, SlurmdUnit)
	if err != nil || !ok {
		return pathFix{}, err
	}
	fix := pathFix{Unit: true, Path: DefaultPath}
	if v, set := u.Env["PATH"]; set {
		fix.Path, fix.From = v, "Environment="
	}
	texts := map[string]string{}
	for _, f := range u.EnvFiles {
		data, err := os.ReadFile(s.Root.Path(f))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return fix, err
		}
		texts[f] = string(data)
		if v, _, set := EnvFileValue(texts[f], "PATH"); set {
			fix.Path, fix.From = v, f
		}
	}
	if PathHas(fix.Path, s.Dir()) {
		return fix, nil
	}
	value := s.Dir() + ":" + fix.Path
	switch {
	case fix.From != "" && fix.From != "Environment=":
		fix.File, fix.Want = fix.From, setEnvLine(texts[fix.From], value)
	case fix.From == "" && standardEnvFile(u) != "":
		fix.File = standardEnvFile(u)
		fix.Want = setEnvLine(texts[fix.File], value)
	default:
		fix.File = PathDropIn
		fix.Want = []byte("[Service]\n" + pathNote + "Environment=\"PATH=" + value + "\"\n")
	}
	return fix, nil
}

// standardEnvFile is the last of the usual environment files the unit
// reads (the one whose settings win), "" when it reads neither.
func standardEnvFile(u Unit) string {
	last := ""
	for _, f := range u.EnvFiles {
		if slices.Contains(envFiles, f) {
			last = f
		}
	}
	return last
}

// setEnvLine sets PATH=value in an environment file's text: the last PATH
// line is replaced (with the agent's note above it), or the note and the
// line are appended. Every other byte is kept.
func setEnvLine(text, value string) []byte {
	line := "PATH=" + value
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if _, i, ok := EnvFileValue(text, "PATH"); ok {
		lines[i] = line + "\n"
		if i == 0 || lines[i-1] != pathNote {
			lines = slices.Insert(lines, i, pathNote)
		}
		return []byte(strings.Join(lines, ""))
	}
	if len(lines) > 0 && !strings.HasSuffix(lines[len(lines)-1], "\n") {
		lines[len(lines)-1] += "\n"
	}
	return []byte(strings.Join(lines, "") + pathNote + line + "\n")
}

// Managed is the PATH assignment the agent keeps for slurmd, with its file
// ("" when the agent manages none): what slurmd-restart folds into what
// slurmd must have been started with.
func (s *PathStep) Managed() (file, line string, err error) {
	u, ok, err := ReadUnit(s.Root, SlurmdUnit)
	if err != nil || !ok {
		return "", "", err
	}
	for _, f := range append(slices.Clone(u.EnvFiles), u.DropIns...) {
		data, err := os.ReadFile(s.Root.Path(f))
		if err != nil {
			continue
		}
		lines := strings.Split(string(data), "\n")
		for i := 1; i < len(lines); i++ {
			if lines[i-1]+"\n" == pathNote {
				return f, lines[i], nil
			}
		}
	}
	return "", "", nil
}

// Changed is when the file holding the agent's PATH last changed (zero when
// there is none): slurmd started before it runs without it.
func (s *PathStep) Changed() time.Time {
	file, _, err := s.Managed()
	if err != nil || file == "" {
		return time.Time{}
	}
	st, err := os.Stat(s.Root.Path(file))
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// PathCheck reports whether the running slurmd has Slurm's bin on its PATH,
// from its /proc/<pid>/environ: what the hooks of every job step inherit.
func PathCheck(root config.Root, prefix string) verify.Check {
	s := &PathStep{Root: root, Prefix: prefix}
	return verify.Func{CheckName: StepSlurmdPath, Fn: func(context.Context) verify.Result { return s.check() }}
}

func (s *PathStep) check() verify.Result {
	scontrol := filepath.Join(s.Dir(), "scontrol")
	if !Regular(s.Root.Path(scontrol)) {
		return verify.Failf("set pyxis.slurm_prefix to where Slurm is installed",
			"%s does not exist: Enroot's Slurm hooks run scontrol, and pyxis.slurm_prefix says it is there", scontrol)
	}
	env, pid, running, err := SlurmdEnviron(s.Root)
	switch {
	case err != nil:
		return verify.Unknownf("run verify as root (slurmd's environment is readable by root only)", "cannot read slurmd's environment: %v", err)
	case !running:
		return verify.Ok("slurmd is not running here")
	}
	path, set := env["PATH"]
	if set && PathHas(path, s.Dir()) {
		return verify.Ok(fmt.Sprintf("slurmd (pid %d) has %s on its PATH: Enroot's Slurm hooks find scontrol", pid, s.Dir()))
	}
	fix := "start slurmd with " + s.Dir() + " on its PATH (it is not a systemd unit here, so the agent cannot)"
	if f, err := s.fix(); err == nil && f.Unit {
		fix = verify.ApplyFix + ": it writes the PATH where slurmd.service reads its environment and restarts slurmd"
	}
	return verify.Failf(fix, "slurmd (pid %d) runs with PATH=%q, without %s: Enroot's 50-slurm-pmi.sh fails PMIx jobs (\"Command not found: scontrol\") and 50-slurm-pytorch.sh sets no MASTER_ADDR", pid, path, s.Dir())
}
