package install

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/accel"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"go.uber.org/zap"
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

// ConfEntry is one line of an enroot.conf as enroot reads it.
type ConfEntry struct {
	Line  int
	Key   string
	Value string
	// Known is false for keys enroot ignores (comments included).
	Known bool
}

// ParseConf reads enroot.conf the way enroot does
// (IFS=$' \t=' read -r key value): the key is the first word, the value the
// rest of the line after the spaces, tabs and one '=' that follow it.
func ParseConf(data string) []ConfEntry {
	var entries []ConfEntry
	for i, line := range strings.Split(data, "\n") {
		line = strings.TrimLeft(line, " \t")
		if line == "" {
			continue
		}
		end := strings.IndexAny(line, " \t=")
		if end < 0 {
			end = len(line)
		}
		key, rest := line[:end], line[end:]
		rest = strings.TrimLeft(rest, " \t")
		rest = strings.TrimPrefix(rest, "=")
		rest = strings.Trim(rest, " \t")
		if key == "" {
			continue
		}
		entries = append(entries, ConfEntry{Line: i + 1, Key: key, Value: rest, Known: config.ValidEnrootConfKey(key)})
	}
	return entries
}

// EffectiveConf is what enroot takes from the entries: known keys only, and
// the first value of a key wins.
func EffectiveConf(entries []ConfEntry) map[string]string {
	conf := map[string]string{}
	for _, e := range entries {
		if _, seen := conf[e.Key]; e.Known && !seen {
			conf[e.Key] = e.Value
		}
	}
	return conf
}

// DiffConf lists the keys whose effective value differs between two files.
func DiffConf(have, want string) []string {
	a, b := EffectiveConf(ParseConf(have)), EffectiveConf(ParseConf(want))
	var keys []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			keys = append(keys, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// BackupSuffix names the copy of the enroot.conf the agent first replaced.
const BackupSuffix = ".agent-backup"

// ConfStep keeps /etc/enroot/enroot.conf as rendered from the config. It
// runs whether or not enroot is installed yet, so images can be built in
// stages and nodes with enroot from elsewhere are configured too.
type ConfStep struct {
	Node *Node
	// Conf is the merged configuration (MergeConf).
	Conf map[string]string
}

func (s *ConfStep) Name() string { return StepConf }

func (s *ConfStep) file() *converge.File {
	return &converge.File{StepName: s.Name(), Path: s.Node.Root.Path(EnrootConfPath), Opts: atomicfile.Default}
}

// content is the enroot.conf the agent wants. It is checked with `bash -n`
// (CheckedConf) unless the file already holds exactly this text: nothing
// will be written then, and a warm apply should start no process
// (BENCHMARKS.md, warm converge).
func (s *ConfStep) content(ctx context.Context) ([]byte, string, error) {
	conf, warn, err := s.conf()
	if err != nil {
		return nil, "", err
	}
	data := formatConf(conf)
	if old, err := os.ReadFile(s.Node.Root.Path(EnrootConfPath)); err == nil && bytes.Equal(old, data) {
		return data, warn, nil
	}
	data, err = CheckedConf(ctx, conf)
	return data, warn, err
}

// conf is Conf with the keys this node's devices need laid over it
// (accel.ConfKeys: an EFA node's ENROOT_RESTRICT_DEV), and a warning when
// that overrides the config.
func (s *ConfStep) conf() (map[string]string, string, error) {
	keys, warn, err := accel.ConfKeys(s.Node.Root, s.Conf)
	if err != nil || len(keys) == 0 {
		return s.Conf, "", err
	}
	conf := maps.Clone(s.Conf)
	maps.Copy(conf, keys)
	return conf, warn, nil
}

func (s *ConfStep) Plan(ctx context.Context) (*converge.Plan, error) {
	data, warn, err := s.content(ctx)
	if err != nil {
		return nil, err
	}
	write, err := s.file().PlanContent(data)
	if err != nil || write.Done() {
		return write, err
	}
	apply := func(ctx context.Context) error {
		if warn != "" {
			s.Node.Log.Warn(warn)
		}
		return s.apply(ctx, write, data)
	}
	old, err := os.ReadFile(s.Node.Root.Path(EnrootConfPath))
	if errors.Is(err, fs.ErrNotExist) {
		return converge.NewPlan(write.Reason, write.Changes, apply), nil
	}
	if err != nil {
		return nil, err
	}
	reason, changes := write.Reason, write.Changes
	if keys := DiffConf(string(old), string(data)); len(keys) > 0 {
		reason = "differs from the rendered config in " + strings.Join(keys, ", ")
	}
	backup := s.Node.Root.Path(EnrootConfPath + BackupSuffix)
	if _, err := os.Lstat(backup); errors.Is(err, fs.ErrNotExist) {
		changes = append([]converge.Change{{Action: "backup", Target: s.Node.Root.Path(EnrootConfPath) + " -> " + backup}}, changes...)
	}
	return converge.NewPlan(reason, changes, apply), nil
}

// apply keeps the replaced file once as enroot.conf.agent-backup (later
// replacements are logged only: the first copy is the one an admin wants
// back), then writes the rendered file.
func (s *ConfStep) apply(ctx context.Context, write *converge.Plan, data []byte) error {
	path := s.Node.Root.Path(EnrootConfPath)
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := atomicfile.MkdirIfMissing(filepath.Dir(path)); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		backup := path + BackupSuffix
		if _, err := os.Lstat(backup); errors.Is(err, fs.ErrNotExist) {
			if _, err := atomicfile.Write(backup, old, sameAs(path)); err != nil {
				return err
			}
		}
		s.Node.Log.Warn("replacing enroot.conf, which differed from the agent's config (edit the agent's config instead)",
			zap.String("path", path), zap.Strings("keys", DiffConf(string(old), string(data))),
			zap.String("backup", backup))
	}
	return write.Apply(ctx)
}

// sameAs is the mode and owner of path, for its backup: a site's 0600
// enroot.conf may hold a proxy password. 0600 root when path cannot be read.
func sameAs(path string) atomicfile.Options {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		return atomicfile.Options{Mode: 0o600, UID: -1, GID: -1}
	}
	return atomicfile.Options{Mode: os.FileMode(st.Mode & 0o777), UID: int(st.Uid), GID: int(st.Gid)}
}
