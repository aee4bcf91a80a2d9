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
	"github.com/enroot-agent/enroot-agent/pkg/imageref"
	"github.com/enroot-agent/enroot-agent/pkg/importer"
	"golang.org/x/sys/unix"
)

// A hold says "a running step uses this image": eviction never removes a
// held image. Holds live in the cache directory, so on a shared directory
// every node sees every node's holds:
//
//	.holds/<hex>/<node>.<uid>.<job>.<step>  content: "<pid> <start ticks>"
//
// pid is the step's slurmstepd, found by the daemon in the process tree of
// the request (stepd.go), or the daemon itself for prepull; the node that
// wrote the hold renews its mtime while that process lives (Renew) and
// removes it once it is gone, even when Pyxis never called release (a
// SIGKILLed step). A hold whose node stopped renewing it (the node died) is
// ignored after holdStale. Nothing under .holds is followed through a
// symlink.
const holdStale = 10 * time.Minute

// holdOpts are a hold's: written without fsync (atomicfile's Volatile), as
// it is on every job step's get. A hold means nothing after a crash of
// this node, whose steps died with it: one the crash lost protects no
// running step, and one it left empty or stale is dropped by the next
// daemon's Renew (its process is gone) or ignored after holdStale. Other
// nodes sharing the directory see it by its name and mtime, which the
// rename and touch set without any fsync.
func holdOpts() atomicfile.Options {
	return atomicfile.Options{Mode: recOpts.Mode, UID: recOpts.UID, GID: recOpts.GID, Volatile: true}
}

// Holder identifies one step and the process whose life the hold follows.
type Holder struct {
	UID       uint32
	Job, Step string
	Proc      stepd // its slurmstepd (the daemon for prepull)
}

func (h Holder) valid() error {
	if !importer.SlurmID(h.Job) || !importer.SlurmID(h.Step) {
		return fmt.Errorf("job %q, step %q: not Slurm ids", h.Job, h.Step)
	}
	return nil
}

func (s *Store) holdName(node string, h Holder) string {
	return fmt.Sprintf("%s.%d.%s.%s", node, h.UID, h.Job, h.Step)
}

// daemonHolder is the daemon itself as a holder (prepull): its hold lives
// as long as this process.
func (s *Store) daemonHolder(job, step string) Holder {
	pid := os.Getpid()
	return Holder{UID: uint32(os.Geteuid()), Job: job, Step: step, Proc: stepd{pid: pid, start: startOf(pid)}}
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
	path := filepath.Join(dir, s.holdName(node, h))
	if old := holderOf(path); old != (stepd{}) && old != h.Proc {
		// An earlier slurmstepd of the same job.step on this node (a
		// requeued job's batch step), which is gone: one step has one
		// slurmstepd per node. Removed rather than renamed over, which on
		// ext4 flushes the new file (auto_da_alloc) on every such get.
		_ = os.Remove(path)
	}
	content := fmt.Sprintf("%d %d\n", h.Proc.pid, h.Proc.start)
	if _, err := atomicfile.Write(path, []byte(content), holdOpts()); err != nil {
		return err
	}
	touch(path) // an unchanged hold is not rewritten; its mtime is renewed
	return nil
}

// touch sets a file's times to now without following a symlink.
func touch(path string) {
	now := unix.NsecToTimespec(time.Now().UnixNano())
	_ = unix.UtimesNanoAt(unix.AT_FDCWD, path, []unix.Timespec{now, now}, unix.AT_SYMLINK_NOFOLLOW)
}

// Release drops every hold of h on this node (all digests); it is
// idempotent, as Pyxis calls release twice.
func (s *Store) Release(node string, h Holder) (int, error) {
	if err := h.valid(); err != nil {
		return 0, err
	}
	n := 0
	s.eachHold(func(_ imageref.Digest, name, path string, _ os.FileInfo) {
		if name == s.holdName(node, h) && os.Remove(path) == nil {
			n++
		}
	})
	return n, nil
}

// releaseExcept drops h's holds of every digest but keep.
func (s *Store) releaseExcept(node string, h Holder, keep imageref.Digest) {
	s.eachHold(func(d imageref.Digest, name, path string, _ os.FileInfo) {
		if name == s.holdName(node, h) && d != keep {
			_ = os.Remove(path)
		}
	})
}

// dropHold removes h's hold of d on this node.
func (s *Store) dropHold(d imageref.Digest, node string, h Holder) {
	_ = os.Remove(filepath.Join(s.Dir, ".holds", d.Encoded(), s.holdName(node, h)))
}

// Renew keeps this node's holds of live steps fresh and removes those of
// steps that ended without a release.
func (s *Store) Renew(node string) {
	s.eachHold(func(_ imageref.Digest, name, path string, _ os.FileInfo) {
		if !strings.HasPrefix(name, node+".") {
			return
		}
		if holderOf(path).alive() {
			touch(path)
		} else {
			_ = os.Remove(path)
		}
	})
}

// holderOf reads the process a hold names; a zero stepd when unreadable.
func holderOf(path string) stepd {
	data, err := atomicfile.ReadFile(path)
	if err != nil {
		return stepd{}
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return stepd{}
	}
	pid, _ := strconv.Atoi(f[0])
	start, _ := strconv.ParseUint(f[1], 10, 64)
	return stepd{pid: pid, start: start}
}

// eachHold calls fn for every hold: regular files in real directories
// named by a digest; symlinks and anything else are skipped.
func (s *Store) eachHold(fn func(d imageref.Digest, name, path string, fi os.FileInfo)) {
	root := filepath.Join(s.Dir, ".holds")
	dirs, _ := os.ReadDir(root)
	for _, dir := range dirs {
		d, err := imageref.ParseDigest("sha256:" + dir.Name())
		if err != nil || !dir.IsDir() { // IsDir is the entry's own type: false for a symlink
			continue
		}
		entries, _ := readDirNoFollow(filepath.Join(root, dir.Name()))
		for _, e := range entries {
			if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
				fn(d, e.Name(), filepath.Join(root, dir.Name(), e.Name()), fi)
			}
		}
	}
}

// readDirNoFollow lists a directory that must not be a symlink.
func readDirNoFollow(dir string) ([]os.DirEntry, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	return f.ReadDir(-1)
}

// held says whether some fresh hold names d.
func (s *Store) held(d imageref.Digest) bool {
	entries, _ := readDirNoFollow(filepath.Join(s.Dir, ".holds", d.Encoded()))
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) < holdStale {
			return true
		}
	}
	return false
}

// heldBy lists the digests uid holds now, on any node.
func (s *Store) heldBy(uid uint32) map[imageref.Digest]struct{} {
	out := map[imageref.Digest]struct{}{}
	s.eachHold(func(d imageref.Digest, name, _ string, fi os.FileInfo) {
		if owner, ok := holdUID(name); ok && owner == uid && time.Since(fi.ModTime()) < holdStale {
			out[d] = struct{}{}
		}
	})
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

var errNotAStep = errors.New("not a job step")
