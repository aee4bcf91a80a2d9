package images

import (
	"fmt"
	"os"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
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
	s.mu.Lock()
	done := s.verified[rec.Digest.Encoded()] == rec
	s.mu.Unlock()
	if done {
		return nil
	}
	sum, err := atomicfile.SHA256(path)
	if err != nil || sum != rec.SHA256 {
		return fmt.Errorf("sha256 %s, the record says %s (%v)", sum, rec.SHA256, err)
	}
	s.markVerified(rec)
	return nil
}

func (s *Store) markVerified(rec record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.verified == nil {
		s.verified = map[string]record{}
	}
	s.verified[rec.Digest.Encoded()] = rec
}
