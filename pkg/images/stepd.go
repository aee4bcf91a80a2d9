package images

import (
	"fmt"
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/lazyre"
)

// A hold belongs to a job step, and the daemon, not the request, says which:
// the process that connected must descend, through processes of its own
// uid, from the step's real slurmstepd. What is checked, in /proc, walking
// up from the peer's pid (SO_PEERCRED) through at most maxAncestry parents:
//
//   - every process before the slurmstepd runs as the peer's uid (real uid):
//     a chain that leaves the user's processes (sshd, a setuid helper, a
//     shell of someone else) before a slurmstepd is refused;
//   - the first slurmstepd met is one: its command name (comm) is
//     slurmstepd, all four of its uids (real, effective, saved, filesystem)
//     are 0, and its title is Slurm's "slurmstepd: [<job>.<step>]";
//   - that job and step are the ones the request claims (SLURM_JOB_ID and
//     SLURM_STEP_ID of the importer's environment; batch, extern and
//     interactive steps by name or by Slurm's number for them).
//
// The hold then names that slurmstepd (pid and start time), and ends when
// it does: the node's daemon drops a hold whose slurmstepd is gone. A user
// cannot make a root process named slurmstepd, so a hold cannot outlive
// the user's own job step.
const maxAncestry = 64

// stepTitle is slurmstepd's process title (setproctitle "[%s]" of Slurm's
// step id, " stepmgr" on a step manager).
var stepTitle = lazyre.New(`^slurmstepd: \[([0-9]+)\.([0-9a-zA-Z+]+)( stepmgr)?\]`)

// stepName is the name slurmstepd's title gives a step Slurm numbers
// (slurm.h): the environment says SLURM_STEP_ID=4294967291, the title
// [42.batch]. Other steps keep their number.
func stepName(step string) string {
	switch step {
	case "4294967290": // SLURM_INTERACTIVE_STEP
		return "interactive"
	case "4294967291": // SLURM_BATCH_SCRIPT
		return "batch"
	case "4294967292": // SLURM_EXTERN_CONT
		return "extern"
	}
	return step
}

// stepd is a slurmstepd: its pid and start time (clock ticks after boot),
// which together name one process for the whole uptime.
type stepd struct {
	pid   int
	start uint64
}

// findStep is the slurmstepd of the step job.step that pid runs under as
// uid, or why there is none. Each process costs one small read of /proc
// (status: name, parent, uids), the slurmstepd two more (stat, for its
// start time, and cmdline, for its title): this is on every get and
// release.
func findStep(pid int, uid uint32, job, step string) (stepd, error) {
	step = stepName(step)
	buf := make([]byte, procFileMax)
	for hops := 0; pid > 1 && hops < maxAncestry; hops++ {
		ps, err := readStatus(pid, buf)
		if err != nil {
			return stepd{}, fmt.Errorf("process %d is gone: %w", pid, err)
		}
		if ps.name == "slurmstepd" && ps.uids == [4]uint64{} {
			st, err := readStat(pid, buf)
			if err != nil {
				return stepd{}, fmt.Errorf("process %d is gone: %w", pid, err)
			}
			if st.comm != ps.name || st.ppid != ps.ppid {
				return stepd{}, fmt.Errorf("process %d changed while it was read (%s, then %s)", pid, ps.name, st.comm)
			}
			return matchStep(pid, st, buf, job, step)
		}
		if ps.uids[0] != uint64(uid) {
			return stepd{}, fmt.Errorf("process %d (%s, uid %d) between the request and any slurmstepd is not uid %d's: the request does not come from a job step", pid, ps.name, ps.uids[0], uid)
		}
		pid = ps.ppid
	}
	return stepd{}, fmt.Errorf("no slurmstepd among the ancestors of the request: holds are for job steps")
}

// matchStep checks the slurmstepd's title against the claimed step.
func matchStep(pid int, st procStat, buf []byte, job, step string) (stepd, error) {
	title, err := readTitle(pid, buf)
	if err != nil || title == "" {
		return stepd{}, fmt.Errorf("slurmstepd %d: no title: %v", pid, err)
	}
	m := stepTitle.FindStringSubmatch(title)
	if m == nil {
		return stepd{}, fmt.Errorf("slurmstepd %d: title %q is not Slurm's", pid, cut(title))
	}
	if m[1] != job || (m[2] != step && !hetComponent(m[2], step)) {
		return stepd{}, fmt.Errorf("the request claims step %s.%s but runs under slurmstepd %d of step %s.%s", job, step, pid, m[1], m[2])
	}
	return stepd{pid: pid, start: st.start}, nil
}

// hetComponent: a heterogeneous step's title is <step>+<component>, its
// environment says <step>.
func hetComponent(title, step string) bool {
	base, _, ok := strings.Cut(title, "+")
	return ok && base == step
}

// alive says whether the process pid that started at start still runs.
func (s stepd) alive() bool {
	return s.pid > 0 && s.start != 0 && startOf(s.pid) == s.start
}

// startOf is pid's start time, 0 when it is gone.
func startOf(pid int) uint64 {
	st, err := readStat(pid, make([]byte, procFileMax))
	if err != nil {
		return 0
	}
	return st.start
}

func cut(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
