package images

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
)

// A hold says "a running step uses this image": eviction never removes a
// held image. Holds live in the cache directory, so on a shared directory
// every node sees every node's holds:
//
//	.holds/<hex>/<node>.<uid>.<job>.<step>  content: "<pid> <start ticks>"
//
// pid is the slurmstepd that ran the importer; the node that wrote the hold
// renews its mtime while that process lives (Renew) and removes it once the
// step is gone, even when Pyxis never called release (a SIGKILLed step). A
// hold whose node stopped renewing it (the node died) is ignored after
// holdStale.
const holdStale = 10 * time.Minute

// Holder identifies one step.
type Holder struct {
	UID       uint32
	Job, Step string
	PID       int // the step's slurmstepd, 0 when unknown
}

var idRE = func(s string) bool {
	return s != "" && len(s) < 32 && strings.Trim(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-") == ""
}

func (h Holder) valid() error {
	if !idRE(h.Job) || !idRE(h.Step) {
		return fmt.Errorf("job %q, step %q: not Slurm ids", h.Job, h.Step)
	}
	return nil
}

func (s *Store) holdName(node string, h Holder) string {
	return fmt.Sprintf("%s.%d.%s.%s", node, h.UID, h.Job, h.Step)
}

// Hold records that h uses d.
func (s *Store) Hold(d Digest, node string, h Holder) error {
	if err := h.valid(); err != nil {
		return err
	}
	dir := filepath.Join(s.Dir, ".holds", d.Hex())
	if _, err := atomicfile.EnsureDir(dir, privOpts); err != nil {
		return err
	}
	content := fmt.Sprintf("%d %d\n", h.PID, startTicks(h.PID))
	_, err := atomicfile.Write(filepath.Join(dir, s.holdName(node, h)), []byte(content), recOpts)
	if err == nil {
		now := time.Now()
		_ = os.Chtimes(filepath.Join(dir, s.holdName(node, h)), now, now)
	}
	return err
}

// Release drops every hold of h on this node (all digests); it is
// idempotent, as Pyxis calls release twice.
func (s *Store) Release(node string, h Holder) (int, error) {
	if err := h.valid(); err != nil {
		return 0, err
	}
	matches, _ := filepath.Glob(filepath.Join(s.Dir, ".holds", "*", s.holdName(node, h)))
	for _, m := range matches {
		_ = os.Remove(m)
	}
	return len(matches), nil
}

// Renew keeps this node's holds of live steps fresh and removes those of
// steps that ended without a release.
func (s *Store) Renew(node string) {
	matches, _ := filepath.Glob(filepath.Join(s.Dir, ".holds", "*", node+".*"))
	now := time.Now()
	for _, m := range matches {
		if holderAlive(m) {
			_ = os.Chtimes(m, now, now)
		} else {
			_ = os.Remove(m)
		}
	}
}

// held says whether some fresh hold names d.
func (s *Store) held(d Digest) bool {
	entries, _ := os.ReadDir(filepath.Join(s.Dir, ".holds", d.Hex()))
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) < holdStale {
			return true
		}
	}
	return false
}

// holderAlive reads a hold of this node: its slurmstepd still runs, and is
// the same process (same start time), not a recycled pid.
func holderAlive(path string) bool {
	data, err := atomicfile.ReadFile(path)
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return false
	}
	pid, _ := strconv.Atoi(f[0])
	start, _ := strconv.ParseUint(f[1], 10, 64)
	return pid > 0 && start != 0 && startTicks(pid) == start
}

// startTicks is field 22 of /proc/<pid>/stat: when the process started.
func startTicks(pid int) uint64 {
	if pid <= 0 {
		return 0
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}

// parentPID is the parent of pid (the importer's slurmstepd).
func parentPID(pid int) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}
