package images

import (
	"errors"
	"os"
	"strconv"
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
)

// holderAlive reads a hold of this node: its slurmstepd still runs, and is
// the same process (same start time), not a recycled pid.
func holderAlive(path string) bool {
	data, err := atomicfile.ReadFile(path)
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return false
	}
	pid, _ := strconv.Atoi(f[0])
	start, _ := strconv.ParseUint(f[1], 10, 64)
	return pid > 0 && start != 0 && startTicks(pid) == start
}

// startTicks is field 22 of /proc/<pid>/stat: when the process started.
func startTicks(pid int) uint64 {
	f := statFields(pid)
	if len(f) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}

// parentPID is the parent of pid (the importer's slurmstepd).
func parentPID(pid int) int {
	f := statFields(pid)
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// statFields are the fields of /proc/<pid>/stat after the command name,
// the state (field 3) first; the name may hold spaces and parentheses, so
// they start after the last ')'. nil when the process is gone.
func statFields(pid int) []string {
	if pid <= 0 {
		return nil
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}
