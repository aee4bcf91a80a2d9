package accel

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// BrokenToolkit lists the libnvidia-container releases known to break
// GPU containers under enroot, each with why. This is the one list: the
// nvidia-toolkit check reads it, and README's "GPU and EFA nodes" repeats
// it for admins. Add a release here when NVIDIA's or Enroot's issue
// tracker confirms one. A slice, not a map: the compiler lays it out in
// the binary, where a map is built by the package's init.
var BrokenToolkit = []struct{ Version, Why string }{
	{"1.17.7", "it applies cgroup device rules although enroot's 98-nvidia.sh passes --no-cgroups, so every GPU container fails with \"failed to add device rules: … permission denied\" (enroot #232, #234; fixed in 1.17.8)"},
}

// brokenToolkit is why release v is in BrokenToolkit, bad false when not.
func brokenToolkit(v string) (why string, bad bool) {
	for _, b := range BrokenToolkit {
		if b.Version == v {
			return b.Why, true
		}
	}
	return "", false
}

// Runner runs a command on the host and returns its combined output.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// ExecRunner runs the real command, bounded to 10 seconds.
func ExecRunner(ctx context.Context, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = time.Second
	return cmd.CombinedOutput()
}

// binDirs are where packages put programs, for finding the ones Enroot's
// NVIDIA hook runs (it adds /usr/sbin and /sbin to slurmd's PATH).
var binDirs = []string{"/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin", "/bin", "/sbin"}

// findProgram is name's host path in binDirs under root, "" when absent.
func findProgram(root config.Root, name string) string {
	for _, d := range binDirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(root.Path(p)); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// ParseCLIVersion reads `nvidia-container-cli --version`:
//
//	cli-version: 1.17.8
//	lib-version: 1.17.8
//	build date: 2025-05-30T13:47+00:00
func ParseCLIVersion(out string) (cli, lib string) {
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "cli-version":
			cli = strings.TrimSpace(v)
		case "lib-version":
			lib = strings.TrimSpace(v)
		}
	}
	return cli, lib
}

// ToolkitCheck: on a GPU node, nvidia-container-cli (libnvidia-container-
// tools), which Enroot's 98-nvidia.sh runs for every container that asks
// for GPUs, is installed and not a release known to break enroot.
func ToolkitCheck(root config.Root, run Runner) verify.Check {
	return verify.Func{CheckName: "nvidia-toolkit", Fn: func(ctx context.Context) verify.Result {
		return toolkitResult(ctx, root, run)
	}}
}

func toolkitResult(ctx context.Context, root config.Root, run Runner) verify.Result {
	host, err := DetectDevices(ctx, root, nil)
	switch {
	case err != nil:
		return verify.Unknownf("check that the agent can read /dev and /proc", "%v", err)
	case !host.GPU():
		return verify.Ok("no NVIDIA GPU here")
	}
	cli := findProgram(root, "nvidia-container-cli")
	if cli == "" {
		return verify.Failf("install libnvidia-container-tools from NVIDIA's repository (the agent installs it with Enroot's prerequisites when a configured repository offers it)",
			"this node has NVIDIA GPUs but no nvidia-container-cli: Enroot's 98-nvidia.sh fails every container that asks for GPUs (\"Command not found: nvidia-container-cli\")")
	}
	out, err := run(ctx, root.Path(cli), "--version")
	if err != nil {
		return verify.Failf("reinstall libnvidia-container-tools and libnvidia-container1", "%s --version fails: %v: %s", cli, err, lastLines(string(out), 3))
	}
	cliV, libV := ParseCLIVersion(string(out))
	if cliV == "" {
		return verify.Unknownf("", "%s --version printed no cli-version: %s", cli, lastLines(string(out), 3))
	}
	for _, v := range []string{cliV, libV} {
		if why, bad := brokenToolkit(v); bad {
			return verify.Failf("install another release of libnvidia-container-tools and libnvidia-container1 and hold it (apt-get install …=<version>-1 && apt-mark hold …, or dnf install …-<version> && dnf versionlock add …)",
				"libnvidia-container %s is installed: %s", v, why)
		}
	}
	return verify.Ok(fmt.Sprintf("nvidia-container-cli %s (libnvidia-container %s)", cliV, libV))
}
