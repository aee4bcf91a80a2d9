package pyxis

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// SlurmSetting is one Key=Value from slurm.conf, with where it was set.
type SlurmSetting struct {
	Value string
	Where string // file:line
}

// ParseSlurmConf reads the Key=Value pairs of one slurm.conf file. Keys are
// case-insensitive in Slurm and come back lower-cased; '#' starts a comment;
// NodeName=… and PartitionName=… lines, whose pairs describe nodes and
// partitions rather than the cluster, are skipped. includes lists the
// targets of Include lines, as written.
func ParseSlurmConf(file string, data []byte) (settings map[string]SlurmSetting, includes []string) {
	settings = map[string]SlurmSetting{}
	for i, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(stripComment(line))
		if len(fields) == 0 {
			continue
		}
		if strings.EqualFold(fields[0], "include") && len(fields) > 1 {
			includes = append(includes, fields[1])
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
				settings[strings.ToLower(k)] = SlurmSetting{Value: v, Where: fmt.Sprintf("%s:%d", file, i+1)}
			}
		}
	}
	return settings, includes
}

// ReadSlurmConf reads slurm.conf (a host path) and the files it includes;
// a later setting overrides an earlier one, as in Slurm.
func ReadSlurmConf(root config.Root, path string) (map[string]SlurmSetting, error) {
	all := map[string]SlurmSetting{}
	return all, readSlurmConf(root, path, all, 0)
}

func readSlurmConf(root config.Root, path string, all map[string]SlurmSetting, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%s: includes nest deeper than %d", path, maxDepth)
	}
	data, err := os.ReadFile(root.Path(path))
	if err != nil {
		return err
	}
	settings, includes := ParseSlurmConf(path, data)
	for k, v := range settings {
		all[k] = v
	}
	for _, inc := range includes {
		if !filepath.IsAbs(inc) {
			inc = filepath.Join(filepath.Dir(path), inc)
		}
		matches, err := Glob(root, inc)
		if err != nil {
			return fmt.Errorf("%s: include %s: %w", path, inc, err)
		}
		for _, m := range matches {
			if err := readSlurmConf(root, m, all, depth+1); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// MemlockAdvice says what is wrong with how slurm.conf propagates the
// memlock limit, or "" when jobs keep slurmd's (unlimited) one. By default
// Slurm copies the submitting shell's limits into the job, and a login
// node's 64 KiB memlock then breaks RDMA, EFA and NCCL inside containers.
func MemlockAdvice(s map[string]SlurmSetting) string {
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
