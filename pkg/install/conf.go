package install

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// EnrootConfPath is Enroot's system configuration file.
const EnrootConfPath = "/etc/enroot/enroot.conf"

// DefaultConf suits a ParallelCluster GPU node. Every path is node-local and
// private to one user: enroot creates these with umask 077, so a directory
// shared by a group would lock out everyone but its first user. Runtime and
// container data live on tmpfs under /run, as in ParallelCluster's own
// example; the layer cache and temporary files go to local disk under
// /var/enroot, never to a /tmp shared with all other software. The
// uncompressed squashfs options trade disk for import speed, as
// ParallelCluster does.
func DefaultConf() map[string]string {
	return map[string]string{
		"ENROOT_RUNTIME_PATH":    "/run/enroot/user-$(id -u)",
		"ENROOT_DATA_PATH":       "/run/enroot/data/user-$(id -u)",
		"ENROOT_CACHE_PATH":      "/var/enroot/cache/user-$(id -u)",
		"ENROOT_TEMP_PATH":       "/var/enroot/tmp",
		"ENROOT_SQUASH_OPTIONS":  "-noI -noD -noF -noX -no-duplicates",
		"ENROOT_ROOTFS_WRITABLE": "yes",
	}
}

// MergeConf lays the config's keys over the defaults. An empty value drops a
// default, so enroot's built-in value applies. configPath, the node-local
// directory holding the shared registry credentials, becomes
// ENROOT_CONFIG_PATH unless the config sets that key itself.
func MergeConf(overrides map[string]string, configPath string) map[string]string {
	conf := DefaultConf()
	if configPath != "" {
		conf["ENROOT_CONFIG_PATH"] = configPath
	}
	for k, v := range overrides {
		if v == "" {
			delete(conf, k)
			continue
		}
		conf[k] = v
	}
	return conf
}

const confHeader = `# Managed by enroot-agent: local edits are overwritten (the first file replaced is kept as
# enroot.conf.agent-backup). Set keys under enroot.conf in the agent's config.yaml instead;
# an empty value there drops one of the agent's defaults.
# Enroot takes the first value it finds for a key: the environment, then this file, then
# enroot.conf.d/*.conf, so a drop-in cannot override a key set here.
`

// CheckedConf renders conf as enroot.conf, one "KEY value" per line in key
// order, and checks the result with `bash -n`, as enroot itself does before
// reading the file.
func CheckedConf(ctx context.Context, conf map[string]string) ([]byte, error) {
	data := formatConf(conf)
	if err := bashSyntax(ctx, data); err != nil {
		for _, k := range slices.Sorted(maps.Keys(conf)) {
			if bashSyntax(ctx, []byte(k+" "+conf[k]+"\n")) != nil {
				return nil, fmt.Errorf("enroot.conf.%s: %q is not valid shell syntax, and enroot rejects the whole file then: %w", k, conf[k], err)
			}
		}
		return nil, fmt.Errorf("rendered enroot.conf fails bash -n: %w", err)
	}
	return data, nil
}

// formatConf is enroot.conf's text for conf, unchecked: CheckedConf checks it.
func formatConf(conf map[string]string) []byte {
	var b bytes.Buffer
	b.WriteString(confHeader)
	for _, k := range slices.Sorted(maps.Keys(conf)) {
		fmt.Fprintf(&b, "%s %s\n", k, conf[k])
	}
	return b.Bytes()
}

func bashSyntax(ctx context.Context, script []byte) error {
	cmd := exec.CommandContext(ctx, "bash", "-n")
	cmd.Stdin = bytes.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("bash -n: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// pathKeys are the enroot.conf keys naming per-user storage. The library and
// sysconf paths belong to the package, and the config path to the
// credentials writer.
var pathKeys = []string{"ENROOT_RUNTIME_PATH", "ENROOT_DATA_PATH", "ENROOT_CACHE_PATH", "ENROOT_TEMP_PATH"}

// ConfDirs lists the directories that must exist for enroot to work as
// every user: the fixed part of each per-user path (/run/enroot for
// /run/enroot/user-$(id -u)), and a fixed path as a whole (enroot creates
// per-user directories itself but never ENROOT_TEMP_PATH). They get mode
// 1777: anyone may create an entry, only its owner may remove it.
func ConfDirs(conf map[string]string) []string {
	seen := map[string]bool{}
	var dirs []string
	for _, k := range pathKeys {
		d := staticDir(conf[k])
		if d != "" && !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	slices.Sort(dirs)
	return dirs
}

// staticDir is the longest directory of v that does not depend on who runs
// enroot; "" when v is relative or starts with an expansion (${HOME}/...).
func staticDir(v string) string {
	if !strings.HasPrefix(v, "/") {
		return ""
	}
	if i := strings.IndexAny(v, "$`\\*?[~ \"'"); i >= 0 {
		v = v[:strings.LastIndex(v[:i], "/")+1]
	}
	v = filepath.Clean(v)
	if v == "/" {
		return ""
	}
	return v
}
