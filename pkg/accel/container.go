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

// Compare lists what the container misses of the host's devices: EFA
// devices and GPU device nodes it does not see, driver libraries the NVIDIA
// hook did not bring for the host's driver, and nvidia-smi's list of GPUs
// when the host has nvidia-smi.
func Compare(host Devices, seen Seen) []string {
	var problems []string
	if missing := without(host.EFA, seen.Devices); len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("it does not see %d of the node's %d EFA devices (%s)", len(missing), len(host.EFA), summarize(missing)))
	}
	if missing := without(host.GPUs, seen.Devices); len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("it does not see %d of the node's %d GPUs (%s)", len(missing), len(host.GPUs), summarize(missing)))
	}
	if host.Driver != "" && !slices.ContainsFunc(seen.Libs, func(l string) bool { return strings.HasSuffix(l, ".so."+host.Driver) }) {
		problems = append(problems, fmt.Sprintf("the NVIDIA hook brought no library of the host's driver %s (it has: %s)", host.Driver, orNone(seen.Libs)))
	}
	return append(problems, compareSMI(host, seen)...)
}

// compareSMI compares `nvidia-smi -L` inside with the host's, by GPU UUID.
func compareSMI(host Devices, seen Seen) []string {
	switch {
	case host.SMIErr != "":
		return []string{"nvidia-smi -L fails on the host itself: " + host.SMIErr}
	case host.SMI == nil:
		return nil
	case seen.SMIExit == -1:
		return []string{"the NVIDIA hook mounted no nvidia-smi (it does for the utility capability)"}
	case seen.SMIExit != 0:
		return []string{fmt.Sprintf("nvidia-smi -L exits %d in the container: %s", seen.SMIExit, orNone(seen.SMI))}
	}
	want, got := GPUIDs(host.SMI), GPUIDs(seen.SMI)
	if missing := without(want, got); len(missing) > 0 || len(got) != len(want) {
		return []string{fmt.Sprintf("nvidia-smi -L lists %d GPUs in the container and %d on the host (missing: %s)", len(got), len(want), orNone(missing))}
	}
	return nil
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return summarize(list)
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
func ContainerCheck(root config.Root, start Starter, run Runner) verify.Check {
	return verify.Func{CheckName: "container-devices", Fn: func(ctx context.Context) verify.Result {
		return containerResult(ctx, root, start, run)
	}}
}

func containerResult(ctx context.Context, root config.Root, start Starter, run Runner) verify.Result {
	host, err := DetectDevices(ctx, root, run)
	if err != nil {
		return verify.Unknownf("check that the agent can read /dev, /sys and /proc", "%v", err)
	}
	if host.None() {
		return verify.Ok("no EFA adapter and no NVIDIA GPU here: no device for a container to see")
	}
	out, err := start(ctx, request(host))
	if err != nil {
		return verify.Failf("jobs' containers fail the same way: fix what enroot reports (a failing hook names itself, e.g. /etc/enroot/hooks.d/98-nvidia.sh)",
			"a container does not start on this node: %v", err)
	}
	seen := ParseSeen(out)
	if !seen.Complete {
		return verify.Failf("", "the probe container stopped before its end: %s", lastLines(out, 5))
	}
	if problems := Compare(host, seen); len(problems) > 0 {
		return verify.Failf(containerFix(host), "a container started as a job's would be: %s%s", strings.Join(problems, "; "), restrictNote(root))
	}
	return verify.Ok("a container sees " + host.String())
}

// request asks for what a GPU image asks for (NVIDIA's CUDA images set
// these): all GPUs, with the libraries of compute and the tools of utility.
func request(host Devices) ProbeRequest {
	if !host.GPU() {
		return ProbeRequest{}
	}
	req := ProbeRequest{Env: []string{"NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_DRIVER_CAPABILITIES=compute,utility"}}
	if host.SMI != nil {
		req.SMI = host.SMIPath
	}
	return req
}

func containerFix(host Devices) string {
	fix := verify.ApplyFix + " (on EFA nodes it renders ENROOT_RESTRICT_DEV no); then look for ENROOT_RESTRICT_DEV in slurmd's environment"
	if host.GPU() {
		fix += "; for GPUs see the nvidia-toolkit and nvidia-sockets checks, and that /etc/enroot/hooks.d/98-nvidia.sh is Enroot's"
	}
	return fix
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
