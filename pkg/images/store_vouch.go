package images

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

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
	return s.verify(f, rec)
}

// hashing is one hash of a file in progress, which concurrent first
// requests for the same file wait on instead of hashing it again.
type hashing struct {
	done chan struct{}
	err  error
}

// verify hashes the file once per process and record: the first request
// hashes, requests meanwhile wait for its answer, later ones find it done.
func (s *Store) verify(f *os.File, rec record) error {
	s.mu.Lock()
	if s.verified[rec.Digest.Encoded()] == rec {
		s.mu.Unlock()
		return nil
	}
	key := fmt.Sprintf("%s %d %d %s", rec.Digest.Encoded(), rec.Size, rec.MTimeNS, rec.SHA256)
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
			s.verified = map[string]record{}
		}
		s.verified[rec.Digest.Encoded()] = rec
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

func (s *Store) markVerified(rec record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.verified == nil {
		s.verified = map[string]record{}
	}
	s.verified[rec.Digest.Encoded()] = rec
}
