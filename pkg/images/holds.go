package images

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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

// releaseExcept drops h's holds of every digest but keep.
func (s *Store) releaseExcept(node string, h Holder, keep imageref.Digest) {
	matches, _ := filepath.Glob(filepath.Join(s.Dir, ".holds", "*", s.holdName(node, h)))
	for _, m := range matches {
		if filepath.Base(filepath.Dir(m)) != keep.Encoded() {
			_ = os.Remove(m)
		}
	}
}

// drop removes h's hold of d on this node.
func (s *Store) dropHold(d imageref.Digest, node string, h Holder) {
	_ = os.Remove(filepath.Join(s.Dir, ".holds", d.Encoded(), s.holdName(node, h)))
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

// heldBy lists the digests uid holds now, on any node.
func (s *Store) heldBy(uid uint32) map[imageref.Digest]struct{} {
	out := map[imageref.Digest]struct{}{}
	dirs, _ := os.ReadDir(filepath.Join(s.Dir, ".holds"))
	for _, dir := range dirs {
		d, err := imageref.ParseDigest("sha256:" + dir.Name())
		if err != nil || !dir.IsDir() {
			continue
		}
		entries, _ := os.ReadDir(filepath.Join(s.Dir, ".holds", dir.Name()))
		for _, e := range entries {
			owner, ok := holdUID(e.Name())
			if fi, err := e.Info(); ok && owner == uid && err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) < holdStale {
				out[d] = struct{}{}
				break
			}
		}
	}
	return out
}

// holdUID reads the uid of a hold's name, <node>.<uid>.<job>.<step>; the
// node may hold dots, so it is cut from the right.
func holdUID(name string) (uint32, bool) {
	f := strings.Split(name, ".")
	if len(f) < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(f[len(f)-3], 10, 32)
	return uint32(n), err == nil
}
