// Package slurm is everything the agent knows about the node's Slurm, in one
// place for the Pyxis steps and the daemon: the running release and its
// headers, slurm.conf and its includes, glob(3) as Slurm's include uses it,
// the slurmd unit and its start time, and drain and resume through scontrol.
package slurm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// Detected is the node's Slurm, as far as a plugin build is concerned.
type Detected struct {
	Version string // like 22.05.8; the plugin must be built for its Release
	From    string // where Version came from: "srun --version" or the header's path
	Include string // the directory to pass as -I (re-rooted), "" when spank.h is missing
}

// Release is the Slurm release a SPANK plugin must match.
func (d Detected) Release() string { return Release(d.Version) }

// Release is the major.minor of a Slurm version ("24.11.7" is "24.11"), the
// part a SPANK plugin must match: Slurm compares a plugin's version with
// its own under the mask 0xffff00 for SPANK plugins (src/common/plugin.c),
// so a plugin built against 24.11.6 loads in 24.11.7, and one built for
// 24.05 does not. A version without a point release is returned whole.
func Release(version string) string {
	if i := strings.IndexByte(version, '.'); i >= 0 {
		if j := strings.IndexByte(version[i+1:], '.'); j >= 0 {
			return version[:i+1+j]
		}
	}
	return version
}

var (
	srunVersion   = regexp.MustCompile(`(?m)^slurm(?:-wlm)?\s+(\d+\.\d+\.\d+)`)
	headerVersion = regexp.MustCompile(`(?m)^#define\s+SLURM_VERSION_NUMBER\s+(0x[0-9a-fA-F]+)`)
)

// ParseSrunVersion reads `srun --version` output ("slurm 22.05.8").
func ParseSrunVersion(out string) (string, bool) {
	m := srunVersion.FindStringSubmatch(out)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// ParseHeaderVersion reads SLURM_VERSION_NUMBER from slurm_version.h and
// writes it the way srun does (0x160508 is 22.05.8).
func ParseHeaderVersion(h string) (string, bool) {
	m := headerVersion.FindStringSubmatch(h)
	if m == nil {
		return "", false
	}
	n, err := strconv.ParseUint(m[1][2:], 16, 32)
	if err != nil {
		return "", false
	}
	return fmt.Sprintf("%d.%02d.%d", n>>16&0xff, n>>8&0xff, n&0xff), true
}

// Detect finds spank.h (in <prefix>/include, else /usr/include, where
// Debian and slurm-devel put it) and the running Slurm's version: srun's
// own answer when it gives one, else the headers'. When both answer with
// different releases (major.minor), the headers do not belong to the
// running Slurm and a plugin built with them would be refused: that is an
// error. Another point release of the same one is not: Slurm loads the
// plugin all the same.
func Detect(ctx context.Context, root config.Root, prefix string) (Detected, error) {
	var s Detected
	var hdrVersion, hdrPath string
	for _, inc := range []string{filepath.Join(prefix, "include"), "/usr/include"} {
		if fileExists(root.Path(filepath.Join(inc, "slurm", "spank.h"))) {
			s.Include = root.Path(inc)
			hdrPath = filepath.Join(inc, "slurm", "slurm_version.h")
			data, _ := os.ReadFile(root.Path(hdrPath))
			hdrVersion, _ = ParseHeaderVersion(string(data))
			break
		}
	}
	srun := filepath.Join(prefix, "bin", "srun")
	runVersion := cachedSrunVersion(ctx, root.Path(srun))
	switch {
	case runVersion != "" && hdrVersion != "" && Release(runVersion) != Release(hdrVersion):
		return s, fmt.Errorf("%s reports Slurm %s but the headers in %s are Slurm %s; a plugin built with them would be refused: install the headers of the running Slurm", srun, runVersion, hdrPath, hdrVersion)
	case runVersion != "":
		s.Version, s.From = runVersion, srun+" --version"
	case hdrVersion != "":
		s.Version, s.From = hdrVersion, hdrPath
	default:
		return s, fmt.Errorf("cannot tell the Slurm version: %s --version gave none and no slurm/slurm_version.h was found under %s/include or /usr/include (check pyxis.slurm_prefix)", srun, prefix)
	}
	return s, nil
}

// srunReports runs srun --version; "" when srun is missing or cannot answer
// (Slurm 22.05's srun needs a readable slurm.conf even for --version).
func srunReports(ctx context.Context, srun string) string {
	if !fileExists(srun) {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, srun, "--version").Output()
	if err != nil {
		return ""
	}
	v, _ := ParseSrunVersion(strings.TrimSpace(string(out)))
	return v
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// Regular reports whether path is a regular file (symlinks followed).
func Regular(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
