package images

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
//	.holds/<hex>/<node>.<uid>.<job>.<step>  content: "<pid> <start ticks>\n"
//	                                        (space-padded to one width)
//
// pid is the step's slurmstepd, found by the daemon in the process tree of
// the request (stepd.go), or the daemon itself for prepull; the node that
// wrote the hold renews its mtime while that process lives (Renew) and
// removes it once it is gone, even when Pyxis never called release (a
// SIGKILLed step). A hold whose node stopped renewing it (the node died) is
// ignored after holdStale. Nothing under .holds is followed through a
// symlink.
const holdStale = 10 * time.Minute

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

// Hold records that h uses d. The hold is written in place, without a
// temp file, rename or fsync, as it is on every job step's get (a new hold
// is one create and one write): no other node reads its content (they see
// its name and mtime), and this daemon reads it (Renew) under the same
// lock it is written under. A hold means
// nothing after a crash of this node, whose steps died with it: one the
// crash lost protects no running step, and one it left empty or stale is
// dropped by the next daemon's Renew (its process is gone) or ignored
// after holdStale.
func (s *Store) Hold(d imageref.Digest, node string, h Holder) error {
	if err := h.valid(); err != nil {
		return err
	}
	name := s.holdName(node, h)
	want := holdContent(h.Proc)
	s.own.mu.Lock()
	defer s.own.mu.Unlock()
	s.loadOwn(node)
	err := s.writeHold(d, name, want)
	if errors.Is(err, unix.ENOENT) { // an upkeep or an eviction (any node) removed the directory meanwhile
		err = s.writeHold(d, name, want)
	}
	if err != nil {
		return fmt.Errorf("holding %s for %s: %w", d, name, err)
	}
	s.own.add(name, d)
	return nil
}

// writeHold makes d's hold name say want (a new hold, or one that named
// an earlier slurmstepd of the same job.step on this node: a requeued job's
// batch step), or renews its mtime when it already does: the write sets
// it. The content has one width, so a hold is overwritten in place, never
// truncated to zero (which on ext4 flushes the file at close).
func (s *Store) writeHold(d imageref.Digest, name, want string) error {
	dir, err := s.holdDir(d, true)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	fd, err := unix.Openat(dir, name, unix.O_WRONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	err = overwrite(fd, name, []byte(want))
	return errors.Join(err, unix.Close(fd))
}

func overwrite(fd int, name string, data []byte) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%s is not a regular file", name)
	}
	if _, err := unix.Pwrite(fd, data, 0); err != nil {
		return err
	}
	if st.Size > int64(len(data)) { // a hold of an earlier version's width
		return unix.Ftruncate(fd, int64(len(data)))
	}
	return nil
}

// holdDir opens .holds/<hex> of d, never through a symlink (the path above
// it is root's alone: trust.go), making it when create is set and it is
// missing.
func (s *Store) holdDir(d imageref.Digest, create bool) (int, error) {
	const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	path := filepath.Join(s.Dir, ".holds", d.Encoded())
	fd, err := unix.Open(path, dirFlags, 0)
	if errors.Is(err, unix.ENOENT) && create {
		if err := unix.Mkdir(path, uint32(privOpts.Mode.Perm())); err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, err
		}
		fd, err = unix.Open(path, dirFlags, 0)
	}
	return fd, err
}

func touchAt(dir int, name string) error {
	now := unix.NsecToTimespec(time.Now().UnixNano())
	return unix.UtimesNanoAt(dir, name, []unix.Timespec{now, now}, unix.AT_SYMLINK_NOFOLLOW)
}

// touch sets a file's times to now without following a symlink.
func touch(path string) { _ = touchAt(unix.AT_FDCWD, path) }

// Release drops every hold of h on this node (all digests); it is
// idempotent, as Pyxis calls release twice.
func (s *Store) Release(node string, h Holder) (int, error) {
	if err := h.valid(); err != nil {
		return 0, err
	}
	return s.releaseExcept(node, h, ""), nil
}

// releaseExcept drops h's holds of every digest but keep, and says how
// many it removed. The holds are this node's, which this process knows
// (ownHolds): no directory is read.
func (s *Store) releaseExcept(node string, h Holder, keep imageref.Digest) int {
	name := s.holdName(node, h)
	s.own.mu.Lock()
	defer s.own.mu.Unlock()
	s.loadOwn(node)
	n := 0
	for d := range s.own.by[name] {
		if d != keep && s.unlinkHold(d, name) {
			n++
		}
	}
	return n
}

// dropHold removes h's hold of d on this node.
func (s *Store) dropHold(d imageref.Digest, node string, h Holder) {
	s.own.mu.Lock()
	defer s.own.mu.Unlock()
	s.unlinkHold(d, s.holdName(node, h))
}

// unlinkHold removes d's hold name, never through a symlink, and forgets
// it; it says whether there was one to remove. Called under own.mu.
func (s *Store) unlinkHold(d imageref.Digest, name string) bool {
	s.own.remove(name, d)
	dir, err := s.holdDir(d, false)
	if err != nil {
		return false
	}
	defer unix.Close(dir)
	return unix.Unlinkat(dir, name, 0) == nil
}

// Renew keeps this node's holds of live steps fresh and removes those of
// steps that ended without a release. It reads the whole directory, so it
// also learns any hold of this node ownHolds missed.
func (s *Store) Renew(node string) {
	s.eachHold(ofNode(node), func(d imageref.Digest, name, path string, _ os.FileInfo) {
		s.own.mu.Lock()
		defer s.own.mu.Unlock()
		if holderOf(path).alive() {
			touch(path)
			s.own.add(name, d)
		} else {
			s.own.remove(name, d)
			_ = os.Remove(path)
		}
	})
	s.removeUnused()
}

// removeUnused removes the hold directories of images no one held for
// holdStale (an empty directory's mtime is its last hold's release), so
// those a user's get reads for its bounds are of images in use lately, not
// of every image ever held. They stay while in use: making and removing
// one on every get and release would cost more than the rest of the get
// (ext4 here: 0.5 ms). A Hold on another node that opened one just before
// finds it gone at its create and makes it again.
func (s *Store) removeUnused() {
	dirs, _ := os.ReadDir(filepath.Join(s.Dir, ".holds"))
	for _, dir := range dirs {
		if _, err := imageref.ParseDigest("sha256:" + dir.Name()); err != nil || !dir.IsDir() {
			continue
		}
		if fi, err := dir.Info(); err == nil && time.Since(fi.ModTime()) > holdStale {
			s.own.mu.Lock()
			_ = unix.Rmdir(filepath.Join(s.Dir, ".holds", dir.Name())) // only when empty
			s.own.mu.Unlock()
		}
	}
}

func ofNode(node string) func(string) bool {
	return func(name string) bool { return strings.HasPrefix(name, node+".") }
}

// holdContent is what a hold says: its process's pid and start time, in
// columns of one width (a pid is at most 7 digits, pid_max 2^22; a start
// time 20), so that a hold is always rewritten whole in place.
func holdContent(p stepd) string { return fmt.Sprintf("%-10d %-20d\n", p.pid, p.start) }

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

// eachHold calls fn for every hold whose name match takes: regular files
// in real directories named by a digest; symlinks, anything else and the
// dot names of temp files are skipped. Only the names match takes are
// stat'ed.
func (s *Store) eachHold(match func(name string) bool, fn func(d imageref.Digest, name, path string, fi os.FileInfo)) {
	root := filepath.Join(s.Dir, ".holds")
	dirs, _ := os.ReadDir(root)
	for _, dir := range dirs {
		d, err := imageref.ParseDigest("sha256:" + dir.Name())
		if err != nil || !dir.IsDir() { // IsDir is the entry's own type: false for a symlink
			continue
		}
		entries, _ := readDirNoFollow(filepath.Join(root, dir.Name()))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") || !match(e.Name()) {
				continue
			}
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

// heldBy lists the digests uid holds now, on any node. It reads every
// digest's directory, but stats only uid's holds.
func (s *Store) heldBy(uid uint32) map[imageref.Digest]struct{} {
	out := map[imageref.Digest]struct{}{}
	s.eachHold(ofUID(uid), func(d imageref.Digest, _, _ string, fi os.FileInfo) {
		if time.Since(fi.ModTime()) < holdStale {
			out[d] = struct{}{}
		}
	})
	return out
}

// heldByIn says whether uid holds d now, on any node: one directory read.
func (s *Store) heldByIn(d imageref.Digest, uid uint32) bool {
	entries, _ := readDirNoFollow(filepath.Join(s.Dir, ".holds", d.Encoded()))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || !ofUID(uid)(e.Name()) {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) < holdStale {
			return true
		}
	}
	return false
}

func ofUID(uid uint32) func(string) bool {
	return func(name string) bool {
		owner, ok := holdUID(name)
		return ok && owner == uid
	}
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

// ownHolds is what this process knows of its node's holds: by hold name
// (<node>.<uid>.<job>.<step>), the digests held under it. Only this node's
// daemon writes its node's holds, so a release removes exactly the files
// named here, without reading the directory (on a shared images.dir, every
// node's holds are there). It is read from the directory at the first use
// for a node (holds a previous daemon left) and by every Renew. mu also
// orders the writes of holds against Renew's reads of them.
type ownHolds struct {
	mu     sync.Mutex
	loaded map[string]bool
	by     map[string]map[imageref.Digest]struct{}
}

// loadOwn reads node's holds from the directory once. Called under own.mu.
func (s *Store) loadOwn(node string) {
	if s.own.loaded[node] {
		return
	}
	s.eachHold(ofNode(node), func(d imageref.Digest, name, _ string, _ os.FileInfo) { s.own.add(name, d) })
	if s.own.loaded == nil {
		s.own.loaded = map[string]bool{}
	}
	s.own.loaded[node] = true
}

func (o *ownHolds) add(name string, d imageref.Digest) {
	if o.by == nil {
		o.by = map[string]map[imageref.Digest]struct{}{}
	}
	if o.by[name] == nil {
		o.by[name] = map[imageref.Digest]struct{}{}
	}
	o.by[name][d] = struct{}{}
}

func (o *ownHolds) remove(name string, d imageref.Digest) {
	delete(o.by[name], d)
	if len(o.by[name]) == 0 {
		delete(o.by, name)
	}
}
