package pyxis

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/lazyre"
	"github.com/enroot-agent/enroot-agent/pkg/artifact"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
	"golang.org/x/sys/unix"
)

// BuildKey is everything that makes one build of spank_pyxis.so differ
// from another in a way a node loading it would notice. Two nodes with the
// same key can load each other's build; a node copies a shared build only
// when every field matches its own.
//
//   - the source: Pyxis version, tarball URL and pinned digest (unpinned,
//     the URL and version; the digest the builder got is recorded beside);
//   - the Slurm release (major.minor), which Slurm compares with its own
//     when it loads the plugin; a point release makes no difference;
//   - the architecture (uname -m);
//   - the OS release (os-release ID and VERSION_ID), which fixes the C
//     library the plugin links against: a plugin built against a newer
//     glibc may need symbol versions an older one lacks;
//   - the build flags make sees from the agent's environment (CC, CFLAGS,
//     LDFLAGS; the agent sets CPPFLAGS itself, and prefix and libdir only
//     say where make install puts the file).
//
// Not the compiler: C's ABI does not change between gcc releases of one
// OS, and what a plugin needs of the node is the C library. The builder's
// `cc --version` is recorded beside the build, for whoever looks.
type BuildKey struct {
	PyxisVersion  string `json:"pyxis_version"`
	Source        string `json:"source"`
	TarballSHA256 string `json:"tarball_sha256"` // pyxis.sha256, "" when unpinned
	SlurmRelease  string `json:"slurm_release"`
	Arch          string `json:"arch"`
	OS            string `json:"os"`
	BuildEnv      string `json:"build_env"`
}

// Key is this node's key for a build of cfg's Pyxis against sl.
func Key(cfg config.Pyxis, root config.Root, sl slurm.Detected) BuildKey {
	var env []string
	// The variables of the agent's environment that make passes on to the
	// compiler and linker (Make adds them to its command).
	for _, k := range []string{"CC", "CFLAGS", "LDFLAGS"} {
		if v := os.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return BuildKey{
		PyxisVersion:  cfg.Version,
		Source:        artifact.Expand(cfg.Source, cfg.Version),
		TarballSHA256: strings.ToLower(cfg.SHA256),
		SlurmRelease:  sl.Release(),
		Arch:          machine(),
		OS:            OSRelease(readOSRelease(root)),
		BuildEnv:      strings.Join(env, " "),
	}
}

var unsafeName = lazyre.New(`[^A-Za-z0-9._+-]+`)

// Name is the build's directory in the shared dir: readable parts for the
// admin who lists it, and a digest of the whole key so that two keys never
// share a name.
func (k BuildKey) Name() string {
	data, _ := json.Marshal(k)
	sum := sha256.Sum256(data)
	name := "pyxis-" + k.PyxisVersion + "-slurm-" + k.SlurmRelease + "-" + k.Arch + "-" + hex.EncodeToString(sum[:6])
	return unsafeName.ReplaceAllString(name, "_")
}

// machine is uname -m: the kernel's name for the node's architecture.
func machine() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Machine[:])
}

func readOSRelease(root config.Root) string {
	// os-release(5): /etc first, then /usr/lib.
	data, err := os.ReadFile(root.Path("/etc/os-release"))
	if err != nil {
		data, _ = os.ReadFile(root.Path("/usr/lib/os-release"))
	}
	return string(data)
}

// OSRelease reads os-release's ID and VERSION_ID ("debian 12", "amzn 2023",
// "rhel 9.4"); "unknown" when the file names neither.
func OSRelease(osRelease string) string {
	var id, ver string
	for _, line := range strings.Split(osRelease, "\n") {
		key, val, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		val = strings.Trim(val, `"'`)
		switch key {
		case "ID":
			id = val
		case "VERSION_ID":
			ver = val
		}
	}
	if id == "" && ver == "" {
		return "unknown"
	}
	return strings.TrimSpace(id + " " + ver)
}
