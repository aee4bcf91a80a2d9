package slurm

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// userHZ is the unit of /proc/<pid>/stat's start time: USER_HZ, fixed at
// 100 in the kernel ABI of every architecture Slurm nodes run on.
const userHZ = 100

// ParseProcStat reads the command name and the start time (in clock ticks
// after boot) from a /proc/<pid>/stat line. The name is in parentheses and
// may itself hold spaces and parentheses, so fields are counted from the last ')'.
func ParseProcStat(line string) (comm string, start uint64, ok bool) {
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return "", 0, false
	}
	fields := strings.Fields(line[end+1:])
	// Field 3 (state) is fields[0]; field 22 (starttime) is fields[19].
	if len(fields) < 20 {
		return "", 0, false
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	return line[open+1 : end], start, err == nil
}

// ParseBootTime reads btime (seconds since the epoch) from /proc/stat.
func ParseBootTime(stat string) (time.Time, bool) {
	for _, line := range strings.Split(stat, "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return time.Unix(n, 0), err == nil
		}
	}
	return time.Time{}, false
}

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
func slurmdProcess(root config.Root) (int, time.Time, bool, error) {
	procDir := root.Path("/proc")
	stat, err := os.ReadFile(filepath.Join(procDir, "stat"))
	if err != nil {
		return 0, time.Time{}, false, nil // no /proc: no slurmd we could see
	}
	boot, ok := ParseBootTime(string(stat))
	if !ok {
		return 0, time.Time{}, false, fmt.Errorf("%s/stat has no btime", procDir)
	}
	stats, _ := filepath.Glob(filepath.Join(procDir, "[0-9]*", "stat"))
	var oldest uint64
	pid := 0
	for _, p := range stats {
		data, err := os.ReadFile(p)
		if err != nil {
			continue // the process ended meanwhile
		}
		// Any user can name a process slurmd: only root's (or, in tests,
		// the agent's own user's) is the daemon.
		if !trustedProc(filepath.Dir(p)) {
			continue
		}
		if comm, start, ok := ParseProcStat(string(data)); ok && comm == "slurmd" && (pid == 0 || start < oldest) {
			oldest = start
			pid, _ = strconv.Atoi(filepath.Base(filepath.Dir(p)))
		}
	}
	if pid == 0 {
		return 0, time.Time{}, false, nil
	}
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
