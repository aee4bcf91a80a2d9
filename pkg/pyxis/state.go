package pyxis

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
)

// StateFile is the build record's name in the state directory.
const StateFile = "pyxis-build.json"

// Record is what the agent built and installed. The next run compares it
// with the node: same inputs and an unaltered .so mean no download and no
// build; a new Slurm release (a new AMI) or a missing or altered .so mean a
// rebuild. SlurmVersion is the full version the plugin was built for, but
// only its release (major.minor) is compared: Slurm loads a SPANK plugin
// built for any point release of its own, so a point release of Slurm
// changes nothing here, and nothing else (the plugin's digest, which the
// slurmd restart follows, stays the same).
type Record struct {
	PyxisVersion  string `json:"pyxis_version"`
	Source        string `json:"source"`
	TarballSHA256 string `json:"tarball_sha256"`
	SlurmVersion  string `json:"slurm_version"`
	Plugin        string `json:"plugin"` // host path of the installed .so
	PluginSHA256  string `json:"plugin_sha256"`
	// Origin says where the plugin came from: "built here", "built here
	// and published to <entry>", "copied from <entry> (built by <node>)".
	Origin string `json:"origin,omitempty"`
	// SharedNote says why a build of its own was made rather than a copy
	// of the shared one: a refused build, a directory the node cannot
	// write or trust.
	SharedNote string `json:"shared_note,omitempty"`
}

// ReadRecord returns the record, or a zero Record when none was written: a
// missing record only means "build".
func ReadRecord(root config.Root, stateDir string) (Record, error) {
	var r Record
	data, err := os.ReadFile(root.Path(filepath.Join(stateDir, StateFile)))
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		// A damaged record costs one rebuild, not a stuck node.
		return Record{}, nil
	}
	return r, nil
}

func writeRecord(root config.Root, stateDir string, r Record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = atomicfile.Write(root.Path(filepath.Join(stateDir, StateFile)), append(data, '\n'), atomicfile.Options{Mode: 0o600, UID: -1, GID: -1})
	return err
}

// Stale says why the installed plugin does not match what is wanted, or ""
// when it does. pluginSum is the .so's current digest ("" when missing).
func (r Record) Stale(want Record, pluginSum string) string {
	switch {
	case r.PyxisVersion == "" && pluginSum != "":
		return fmt.Sprintf("%s (sha256 %s) was not built by the agent (an image's Pyxis?): it is replaced by a build against this node's Slurm", want.Plugin, pluginSum)
	case r.PyxisVersion == "":
		return "Pyxis has not been built on this node"
	case pluginSum == "":
		return fmt.Sprintf("%s is missing", want.Plugin)
	case r.Plugin != want.Plugin:
		return fmt.Sprintf("pyxis.libdir moved the plugin from %s to %s", r.Plugin, want.Plugin)
	case pluginSum != r.PluginSHA256:
		return fmt.Sprintf("%s was altered since the agent installed it", want.Plugin)
	case r.PyxisVersion != want.PyxisVersion:
		return fmt.Sprintf("pyxis.version changed from %s to %s", r.PyxisVersion, want.PyxisVersion)
	case r.Source != want.Source:
		return "pyxis.source changed"
	case want.TarballSHA256 != "" && r.TarballSHA256 != want.TarballSHA256:
		return "pyxis.sha256 changed"
	case slurm.Release(r.SlurmVersion) != slurm.Release(want.SlurmVersion):
		return fmt.Sprintf("Slurm changed from %s to %s: the plugin must be rebuilt for release %s", r.SlurmVersion, want.SlurmVersion, slurm.Release(want.SlurmVersion))
	}
	return ""
}

// fileSHA256 is the file's digest, "" when it does not exist.
func pluginSum(path string) (string, error) {
	sum, err := atomicfile.SHA256(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return sum, err
}
