package accel

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// Seen is what the probe container printed (probeScript).
type Seen struct {
	Devices  []string // device nodes it sees
	Driver   string   // NVIDIA driver version in its /proc, "" without
	Libs     []string // NVIDIA driver libraries in it
	SMI      []string // `nvidia-smi -L` inside, one GPU per entry
	SMIExit  int      // nvidia-smi's exit status; -1 when the hook brought none
	Complete bool     // the script ran to its end
}

// ParseSeen reads probeScript's output; enroot's own lines are ignored.
func ParseSeen(out string) Seen {
	s := Seen{SMIExit: -1}
	var driver strings.Builder
	for _, line := range strings.Split(out, "\n") {
		kind, rest, _ := strings.Cut(line, " ")
		switch kind {
		case "dev":
			s.Devices = append(s.Devices, rest)
		case "driver":
			driver.WriteString(rest + "\n")
		case "lib":
			s.Libs = append(s.Libs, rest)
		case "smi":
			if strings.TrimSpace(rest) != "" {
				s.SMI = append(s.SMI, rest)
			}
		case "smi-exit":
			if n, err := strconv.Atoi(rest); err == nil {
				s.SMIExit = n
			}
		case "end":
			s.Complete = true
		}
	}
	s.Driver = ParseDriverVersion(driver.String())
	return s
}

// Compare lists what the container misses of the host's devices.
func Compare(host Devices, seen Seen) []string {
	var problems []string
	if missing := without(host.EFA, seen.Devices); len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("it does not see %d of the node's %d EFA devices (%s)", len(missing), len(host.EFA), summarize(missing)))
	}
	return problems
}

// without is the entries of want that have is lacks.
func without(want, have []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			out = append(out, w)
		}
	}
	return out
}

// summarize keeps a long device list readable.
func summarize(list []string) string {
	if len(list) > 4 {
		return fmt.Sprintf("%s, … %s", strings.Join(list[:3], ", "), list[len(list)-1])
	}
	return strings.Join(list, ", ")
}

// ContainerCheck starts a tiny container on a node with EFA adapters or
// NVIDIA GPUs and compares what it sees with the host; on other nodes it
// starts nothing and is ok.
func ContainerCheck(root config.Root, start Starter) verify.Check {
	return verify.Func{CheckName: "container-devices", Fn: func(ctx context.Context) verify.Result {
		return containerResult(ctx, root, start)
	}}
}

func containerResult(ctx context.Context, root config.Root, start Starter) verify.Result {
	host, err := DetectDevices(root)
	if err != nil {
		return verify.Unknownf("check that the agent can read /dev and /sys", "%v", err)
	}
	if host.None() {
		return verify.Ok("no EFA adapter and no NVIDIA GPU here: no device for a container to see")
	}
	out, err := start(ctx, ProbeRequest{})
	if err != nil {
		return verify.Failf("jobs' containers fail the same way: fix what enroot reports (a failing hook names itself, e.g. /etc/enroot/hooks.d/98-nvidia.sh)",
			"a container does not start on this node: %v", err)
	}
	seen := ParseSeen(out)
	if !seen.Complete {
		return verify.Failf("", "the probe container stopped before its end: %s", lastLines(out, 5))
	}
	if problems := Compare(host, seen); len(problems) > 0 {
		return verify.Failf(verify.ApplyFix+" (on EFA nodes it renders ENROOT_RESTRICT_DEV no); then look for ENROOT_RESTRICT_DEV in slurmd's environment",
			"a container started as a job's would be %s%s", strings.Join(problems, "; "), restrictNote(root))
	}
	return verify.Ok(fmt.Sprintf("a container sees the node's %d EFA devices", len(host.EFA)))
}

// DetectDevices reads what the node has that containers must see.
func DetectDevices(root config.Root) (Devices, error) {
	efa, err := EFADevices(root)
	return Devices{EFA: efa}, err
}

// restrictNote names ENROOT_RESTRICT_DEV's value in enroot.conf, the
// usual reason a container's /dev lacks devices.
func restrictNote(root config.Root) string {
	data, err := os.ReadFile(root.Path("/etc/enroot/enroot.conf"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		if k == RestrictDev {
			return fmt.Sprintf(" (enroot.conf has %s %s)", RestrictDev, strings.TrimSpace(v))
		}
	}
	return ""
}
