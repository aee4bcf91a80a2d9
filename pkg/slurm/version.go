package slurm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/internal/lazyre"
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
	srunVersion   = lazyre.New(`(?m)^slurm(?:-wlm)?\s+(\d+\.\d+\.\d+)`)
	headerVersion = lazyre.New(`(?m)^#define\s+SLURM_VERSION_NUMBER\s+(0x[0-9a-fA-F]+)`)
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
func (d *Detector) Detect(ctx context.Context, root config.Root, prefix string) (Detected, error) {
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
	runVersion := d.srunVersion(ctx, root.Path(srun))
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

// Detector finds the node's Slurm (Detect) and keeps what each srun binary
// answered to --version, keyed by the file's identity: the daemon converges
// and checks every few minutes, and a converged node must start no process
// for it. An upgrade replaces the binary (new inode, size or ctime), which
// misses the cache. With a file to keep them in (NewDetector's keep, in the
// agent's state directory), the answers outlive the process too: `apply`,
// `verify` and the daemon's start are new processes, and srun --version
// is libslurm's whole start (5 ms or more) on each. An srun that gave no
// answer (no slurm.conf yet) is asked again after noAnswerFor, so the
// steps and checks of one run ask it once. The daemon builds one per
// config and hands it to every step and check that asks; a nil *Detector
// asks srun every time.
type Detector struct {
	mu     sync.Mutex
	srun   map[string]srunAnswer
	keep   string // host path; "" keeps the answers in memory only
	loaded bool
	// unsaved: the keep file lacks an answer because writing it failed,
	// typically because the state directory did not exist yet (Pyxis's
	// fetch asks srun beside the step that creates it). Every later ask
	// tries again, so the first converge of a new node still leaves it.
	unsaved bool
	now     func() time.Time
}

// KeepFile is where, in the agent's state directory, the node's Detector
// keeps srun's answers.
const KeepFile = "srun-version.json"

// noAnswerFor is how long an srun that could not answer is not asked
// again: one run of the steps and checks, well under a check interval.
const noAnswerFor = 10 * time.Second

// NewDetector returns a Detector that keeps srun's answers in the file
// keep (a host path in a root-only directory; "" for memory only).
func NewDetector(keep string) *Detector {
	return &Detector{srun: map[string]srunAnswer{}, keep: keep, now: time.Now}
}

type srunAnswer struct {
	id      fileID
	version string    // "" when srun could not answer
	at      time.Time // when it could not
}

// fileID changes whenever the file is replaced or rewritten: a rename
// brings a new inode, an in-place write a new mtime and ctime.
type fileID struct {
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Size    int64  `json:"size"`
	MtimeNS int64  `json:"mtime_ns"`
	CtimeNS int64  `json:"ctime_ns"`
}

func identify(path string) (fileID, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fileID{}, false
	}
	return fileID{Dev: st.Dev, Ino: st.Ino, Size: st.Size, MtimeNS: st.Mtim.Nano(), CtimeNS: st.Ctim.Nano()}, true
}

// srunVersion is srunReports, run again only when srun changed. The lock
// is held while srun runs (10 s at most): checks run in parallel, and the
// ones that ask at once wait for one answer instead of each starting srun.
func (d *Detector) srunVersion(ctx context.Context, srun string) string {
	if d == nil {
		return srunReports(ctx, srun)
	}
	id, ok := identify(srun)
	if !ok {
		return ""
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.load()
	if a, hit := d.srun[srun]; hit && a.id == id && (a.version != "" || d.now().Sub(a.at) < noAnswerFor) {
		if d.unsaved {
			d.save()
		}
		return a.version
	}
	v := srunReports(ctx, srun)
	d.srun[srun] = srunAnswer{id: id, version: v, at: d.now()}
	if v != "" {
		d.save()
	}
	return v
}

// keptAnswer is one line of the keep file.
type keptAnswer struct {
	Srun    string `json:"srun"`
	ID      fileID `json:"file"`
	Version string `json:"version"`
}

// load reads the keep file once; a missing or unreadable one is an empty
// cache (the answers are asked again and the file rewritten).
func (d *Detector) load() {
	if d.loaded || d.keep == "" {
		return
	}
	d.loaded = true
	data, err := atomicfile.ReadFile(d.keep)
	if err != nil {
		return
	}
	var kept []keptAnswer
	if json.Unmarshal(data, &kept) != nil {
		return
	}
	for _, k := range kept {
		if _, known := d.srun[k.Srun]; !known && k.Version != "" {
			d.srun[k.Srun] = srunAnswer{id: k.ID, version: k.Version}
		}
	}
}

// save writes the answers to the keep file; it writes nothing when the
// file already holds them. A failure (a read-only state directory, a
// user's verify) only costs the next process an srun.
func (d *Detector) save() {
	if d.keep == "" {
		return
	}
	var kept []keptAnswer
	for path, a := range d.srun {
		if a.version != "" {
			kept = append(kept, keptAnswer{Srun: path, ID: a.id, Version: a.version})
		}
	}
	slices.SortFunc(kept, func(a, b keptAnswer) int { return strings.Compare(a.Srun, b.Srun) })
	data, err := json.MarshalIndent(kept, "", "  ")
	if err != nil {
		return
	}
	_, err = atomicfile.Write(d.keep, append(data, '\n'), atomicfile.Options{Mode: 0o644, UID: -1, GID: -1})
	d.unsaved = err != nil
}
