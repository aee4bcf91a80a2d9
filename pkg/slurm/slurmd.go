package slurm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
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
