package images

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/imageref"
	"golang.org/x/sys/unix"
)

// Store is the cache directory. Only the agent writes it, and every
// directory above it is root's alone (trust.go):
//
//	<dir>/                 0711 root: users reach a file by its digest, never
//	                       list; with credentials.group 0710 root:<group>, so
//	                       only the group's members reach the files at all
//	<dir>/sha256/           the same
//	<dir>/sha256/<hex>.sqsh 0444 root (0440 root:<group>): the image
//	<dir>/sha256/<hex>.json 0600 root: its record (size, mtime, sha256); its
//	                        mtime is the image's last use, for eviction
//	<dir>/.locks/<hex>.lock the per-digest import lock (flock, or a lease)
//	<dir>/.holds/<hex>/     who uses the image now (see holds.go)
//	<dir>/.reserve/         the space imports in flight reserved (space.go)
//	<dir>/.work/            one directory per import, owned by the import user
//
// A file is served only when its record vouches for it, so a file that
// appeared without one, or changed after it, is never handed out.
type Store struct {
	Dir string
	// GID is credentials.group's gid, -1 when it is not set.
	GID int

	mu       sync.Mutex
	verified map[string]knownFile // hex -> the file (inode) hashed in full, and its record
	hashing  map[string]*hashing  // hashes in progress, by file
	hash     func(*os.File) (string, error)
	own      ownHolds // this node's holds (holds.go)
	// leaseOnly makes lock use the lease even where flock works, so the
	// fallback is tested on this machine's filesystems.
	leaseOnly bool
}

// record is what the agent knew of a file when it put it in place.
type record struct {
	Digest   imageref.Digest `json:"digest"`
	Image    string          `json:"image"`     // the source it was imported from
	Manifest string          `json:"manifest"`  // the verified manifest, as served to enroot
	Request  imageref.Digest `json:"requested"` // the digest asked for (an index, or the same)
	Size     int64           `json:"size"`
	MTimeNS  int64           `json:"mtime_ns"`
	SHA256   string          `json:"sha256"`
	Imported time.Time       `json:"imported"`
	Node     string          `json:"node"`
	Seconds  float64         `json:"seconds"`
}

var (
	workOpts = atomicfile.Options{Mode: 0o711, UID: -1, GID: -1}
	privOpts = atomicfile.Options{Mode: 0o700, UID: -1, GID: -1}
	recOpts  = atomicfile.Options{Mode: 0o600, UID: -1, GID: -1}
)

// dirOpts are the image directories': traversable by everyone, or by the
// group only.
func (s *Store) dirOpts() atomicfile.Options {
	if s.GID >= 0 {
		return atomicfile.Options{Mode: 0o710, UID: -1, GID: s.GID}
	}
	return atomicfile.Options{Mode: 0o711, UID: -1, GID: 0}
}

// fileOpts are the images': readable by everyone, or by the group only.
func (s *Store) fileOpts() atomicfile.Options {
	if s.GID >= 0 {
		return atomicfile.Options{Mode: 0o440, UID: -1, GID: s.GID}
	}
	return atomicfile.Options{Mode: 0o444, UID: -1, GID: 0}
}

// Prepare checks that only root can change the path to the directory, then
// makes the layout, fixing modes and refusing a directory someone else made
// (they may have planted files in it).
func (s *Store) Prepare() error {
	if err := trustedPath(s.Dir); err != nil {
		return fmt.Errorf("images.dir %s is not safe: %w; fix: %s", s.Dir, err, trustFix(s.Dir))
	}
	if _, err := atomicfile.EnsureDir(s.Dir, s.dirOpts()); err != nil {
		return err
	}
	if err := reachable(s.Dir); err != nil {
		return fmt.Errorf("images.dir: %w; fix: %s", err, reachFix)
	}
	for name, o := range map[string]atomicfile.Options{"sha256": s.dirOpts(), ".locks": privOpts, ".holds": privOpts, ".reserve": privOpts, ".work": workOpts} {
		if _, err := atomicfile.EnsureDir(filepath.Join(s.Dir, name), o); err != nil {
			return err
		}
	}
	s.reseal()
	return nil
}

// reseal gives the cached files the mode and group of now, so turning
// credentials.group on closes the files already there (their records stay
// true: a mode or owner change leaves size and mtime alone).
func (s *Store) reseal() {
	for _, e := range s.usage() {
		fd, err := unix.Open(s.Path(e.d), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		o := s.fileOpts()
		if unix.Fstat(fd, &st) == nil && st.Uid == uint32(os.Geteuid()) && st.Nlink == 1 && st.Mode&unix.S_IFMT == unix.S_IFREG {
			_ = unix.Fchown(fd, -1, o.GID)
			_ = unix.Fchmod(fd, uint32(o.Mode.Perm()))
		}
		_ = unix.Close(fd)
	}
}

// Path is where the image of d lives.
func (s *Store) Path(d imageref.Digest) string {
	return filepath.Join(s.Dir, "sha256", d.Encoded()+".sqsh")
}

func (s *Store) recPath(d imageref.Digest) string {
	return filepath.Join(s.Dir, "sha256", d.Encoded()+".json")
}

// errMissing says the image is not cached (or no longer trusted).
var errMissing = errors.New("not cached")

// Lookup returns the path of d's image when the file is exactly the one the
// agent recorded: owned by the agent, read-only, one link, same size and
// mtime, and, the first time this process serves it, the same sha256. A file
// that fails is removed (it is corrupt or planted) and errMissing returned.
func (s *Store) Lookup(d imageref.Digest) (string, error) {
	if path, ok := s.lookupKnown(d); ok {
		return path, nil
	}
	rec, err := s.readRecord(d)
	if err != nil {
		return "", err
	}
	path := s.Path(d)
	if err := s.vouch(path, rec); err != nil {
		s.drop(d)
		return "", fmt.Errorf("%w: %s failed its check and was removed: %v", errMissing, path, err)
	}
	touch(s.recPath(d)) // last use, for eviction
	return path, nil
}

// knownFile is a file this process hashed in full, by inode, and the record
// it matched.
type knownFile struct {
	rec record
	ino uint64
}

// lookupKnown serves d without reading its record again (a cache hit's
// case) when the file is the very one this process hashed: the same
// inode, with the mode, owner, links, size and mtime its record gave, and
// the record still in place (touched for its last use, as Lookup does).
// A file replaced (another node's import), changed or removed, or a record
// removed, fails here, and Lookup reads the record again.
func (s *Store) lookupKnown(d imageref.Digest) (string, bool) {
	s.mu.Lock()
	k, ok := s.verified[d.Encoded()]
	s.mu.Unlock()
	if !ok {
		return "", false
	}
	path := s.Path(d)
	var st unix.Stat_t
	if err := unix.Fstatat(unix.AT_FDCWD, path, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Ino != k.ino || s.checkStat(&st, k.rec) != nil {
		return "", false
	}
	if touchAt(unix.AT_FDCWD, s.recPath(d)) != nil {
		return "", false
	}
	return path, true
}

func (s *Store) readRecord(d imageref.Digest) (record, error) {
	data, err := atomicfile.ReadFile(s.recPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		return record{}, errMissing
	}
	var rec record
	if err == nil {
		err = json.Unmarshal(data, &rec)
	}
	if err != nil || rec.Digest != d {
		return record{}, fmt.Errorf("%w: unreadable record %s: %v", errMissing, s.recPath(d), err)
	}
	return rec, nil
}

// Publish adopts the import user's output as d's image and writes its
// record after it, so a crash in between leaves a file with no record,
// which is never served and is replaced by the next import.
func (s *Store) Publish(v *Verified, src string, producerUID int, node string, took time.Duration) (record, error) {
	d := v.Digest
	s.drop(d)
	a, err := atomicfile.Adopt(src, s.Path(d), producerUID, s.fileOpts())
	if err != nil {
		return record{}, err
	}
	rec := record{Digest: d, Image: v.Image.Source(), Manifest: string(v.Manifest), Request: v.Requested, Size: a.Size, MTimeNS: a.MTime.UnixNano(), SHA256: a.SHA256,
		Imported: time.Now().UTC(), Node: node, Seconds: took.Seconds()}
	data, _ := json.MarshalIndent(rec, "", "  ")
	if _, err := atomicfile.Write(s.recPath(d), append(data, '\n'), recOpts); err != nil {
		return record{}, err
	}
	var st unix.Stat_t // the file Adopt hashed, renamed into place under d's lock
	if unix.Fstatat(unix.AT_FDCWD, s.Path(d), &st, unix.AT_SYMLINK_NOFOLLOW) == nil && s.checkStat(&st, rec) == nil {
		s.markVerified(rec, st.Ino)
	}
	return rec, nil
}

// drop removes d's record, then its file.
func (s *Store) drop(d imageref.Digest) {
	_ = os.Remove(s.recPath(d))
	_ = os.Remove(s.Path(d))
	s.mu.Lock()
	delete(s.verified, d.Encoded())
	s.mu.Unlock()
}

// vouch checks the file against its record.
func (s *Store) vouch(path string, rec record) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if err := s.checkStat(&st, rec); err != nil {
		return err
	}
	return s.verify(f, knownFile{rec: rec, ino: st.Ino})
}

// checkStat checks what a stat says of an image against its record.
func (s *Store) checkStat(st *unix.Stat_t, rec record) error {
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG || os.FileMode(st.Mode&0o7777) != s.fileOpts().Mode:
		return fmt.Errorf("mode %o, want a regular file %04o", st.Mode, s.fileOpts().Mode)
	case s.GID >= 0 && int(st.Gid) != s.GID:
		return fmt.Errorf("group %d, want credentials.group's %d", st.Gid, s.GID)
	case int(st.Uid) != os.Geteuid() || st.Nlink != 1:
		return fmt.Errorf("owned by uid %d with %d links, want the agent's with one", st.Uid, st.Nlink)
	case st.Size != rec.Size || st.Mtim.Nano() != rec.MTimeNS:
		return fmt.Errorf("size %d, mtime %d; the record says %d, %d: it changed after import", st.Size, st.Mtim.Nano(), rec.Size, rec.MTimeNS)
	}
	return nil
}

// hashing is one hash of a file in progress, which concurrent first
// requests for the same file wait on instead of hashing it again.
type hashing struct {
	done chan struct{}
	err  error
}

// verify hashes the file once per process, inode and record: the first
// request hashes, requests meanwhile wait for its answer, later ones find
// it done.
func (s *Store) verify(f *os.File, k knownFile) error {
	rec := k.rec
	s.mu.Lock()
	if s.verified[rec.Digest.Encoded()] == k {
		s.mu.Unlock()
		return nil
	}
	key := fmt.Sprintf("%s %d %d %d %s", rec.Digest.Encoded(), k.ino, rec.Size, rec.MTimeNS, rec.SHA256)
	if h, ok := s.hashing[key]; ok {
		s.mu.Unlock()
		<-h.done
		return h.err
	}
	if s.hashing == nil {
		s.hashing = map[string]*hashing{}
	}
	h := &hashing{done: make(chan struct{})}
	s.hashing[key] = h
	s.mu.Unlock()

	sum, err := s.hashFile(f)
	if err == nil && sum != rec.SHA256 {
		err = fmt.Errorf("sha256 %s, the record says %s", sum, rec.SHA256)
	}
	s.mu.Lock()
	if err == nil {
		if s.verified == nil {
			s.verified = map[string]knownFile{}
		}
		s.verified[rec.Digest.Encoded()] = k
	}
	h.err = err
	delete(s.hashing, key)
	s.mu.Unlock()
	close(h.done)
	return err
}

// hashFile is the sha256 of the open file (Store.hash, a test's seam, when
// set).
func (s *Store) hashFile(f *os.File) (string, error) {
	if s.hash != nil {
		return s.hash(f)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (s *Store) markVerified(rec record, ino uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.verified == nil {
		s.verified = map[string]knownFile{}
	}
	s.verified[rec.Digest.Encoded()] = knownFile{rec: rec, ino: ino}
}
