package images

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"

	"github.com/enroot-agent/enroot-agent/pkg/imageref"
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
func (s *Store) Hold(d imageref.Digest, node string, h Holder) error {
	if err := h.valid(); err != nil {
		return err
	}
	dir := filepath.Join(s.Dir, ".holds", d.Encoded())
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
func (s *Store) held(d imageref.Digest) bool {
	entries, _ := os.ReadDir(filepath.Join(s.Dir, ".holds", d.Encoded()))
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) < holdStale {
			return true
		}
	}
	return false
}
