package slurm

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// Setting is one Key=Value from slurm.conf, with where it was set.
type Setting struct {
	Value string
	Where string // file:line
}

// ParseConf reads the Key=Value pairs of one slurm.conf file. Keys are
// case-insensitive in Slurm and come back lower-cased; '#' starts a comment;
// NodeName=… and PartitionName=… lines, whose pairs describe nodes and
// partitions rather than the cluster, are skipped. includes lists the
// Include lines, in order.
func ParseConf(file string, data []byte) (settings map[string]Setting, includes []Include) {
	settings = map[string]Setting{}
	for i, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(StripComment(line))
		if len(fields) == 0 {
			continue
		}
		if strings.EqualFold(fields[0], "include") && len(fields) > 1 {
			includes = append(includes, Include{File: file, Line: i + 1, Pattern: fields[1]})
			continue
		}
		key, _, _ := strings.Cut(fields[0], "=")
		switch strings.ToLower(key) {
		case "nodename", "partitionname", "nodeset", "frontendname", "downnodes":
			continue
		}
		for _, f := range fields {
			k, v, ok := strings.Cut(f, "=")
			if ok {
				settings[strings.ToLower(k)] = Setting{Value: v, Where: fmt.Sprintf("%s:%d", file, i+1)}
			}
		}
	}
	return settings, includes
}

// SlurmConfPath finds slurm.conf as Slurm's clients do: SLURM_CONF, else the
// build's sysconfdir, <prefix>/etc (ParallelCluster) or /etc/slurm (distros).
// Like every host path, it is read under --root.
func SlurmConfPath(prefix string, root config.Root) string {
	if conf := os.Getenv("SLURM_CONF"); conf != "" {
		return conf
	}
	conf := filepath.Join(prefix, "etc", "slurm.conf")
	if !Regular(root.Path(conf)) && Regular(root.Path("/etc/slurm/slurm.conf")) {
		return "/etc/slurm/slurm.conf"
	}
	return conf
}

// ReadConf reads slurm.conf (a host path) and the files it includes. A
// file's includes are read after its own settings and override them; a
// later setting overrides an earlier one, as in Slurm. A missing slurm.conf,
// and an include the walk cannot follow, are errors.
func ReadConf(root config.Root, path string) (map[string]Setting, error) {
	all := map[string]Setting{}
	w := IncludeWalker{Root: root, Missing: MissingFails}
	walked, err := w.Walk(path, func(file string, data []byte, include func(Include)) {
		settings, includes := ParseConf(file, data)
		maps.Copy(all, settings)
		for _, inc := range includes {
			include(inc)
		}
	})
	if err == nil && len(walked.Problems) > 0 {
		err = walked.Problems[0]
	}
	return all, err
}

// MemlockAdvice says what is wrong with how slurm.conf propagates the
// memlock limit, or "" when jobs keep slurmd's (unlimited) one. By default
// Slurm copies the submitting shell's limits into the job, and a login
// node's 64 KiB memlock then breaks RDMA, EFA and NCCL inside containers.
func MemlockAdvice(s map[string]Setting) string {
	if except, ok := s["propagateresourcelimitsexcept"]; ok && (hasLimit(except.Value, "MEMLOCK") || strings.EqualFold(except.Value, "ALL")) {
		return ""
	}
	if prop, ok := s["propagateresourcelimits"]; ok {
		if strings.EqualFold(prop.Value, "NONE") || !hasLimit(prop.Value, "MEMLOCK") && !strings.EqualFold(prop.Value, "ALL") {
			return ""
		}
		return fmt.Sprintf("%s: PropagateResourceLimits=%s propagates MEMLOCK", prop.Where, prop.Value)
	}
	return "PropagateResourceLimitsExcept does not list MEMLOCK, so jobs inherit the submitting shell's memlock limit"
}

func hasLimit(list, limit string) bool {
	for _, l := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(l), limit) || strings.EqualFold(strings.TrimSpace(l), "RLIMIT_"+limit) {
			return true
		}
	}
	return false
}
