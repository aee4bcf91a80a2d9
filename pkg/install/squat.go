package install

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// perUser is the per-user suffix the default paths use.
const perUser = "/user-$(id -u)"

// MaxSquatsListed bounds the list SquattedDirs returns: a user can make any
// number of entries, and the list ends up in /verify and in the log.
const MaxSquatsListed = 5

// SquattedDirs finds per-user enroot directories that do not belong to their
// user. The shared parents are world-writable (mode 1777), so a user could
// create /run/enroot/user-<someone else's uid> first; enroot would then run
// that user's containers in a directory the squatter controls. A shared
// parent that a user owns is reported too: its owner controls every entry.
// Only paths ending in /user-$(id -u) can be checked this way. At most
// MaxSquatsListed are named, then a last element says how many more.
func SquattedDirs(root config.Root, conf map[string]string) ([]string, error) {
	var s squats
	for _, k := range pathKeys {
		parent, ok := strings.CutSuffix(conf[k], perUser)
		if !ok || staticDir(conf[k]) != parent {
			continue
		}
		if err := s.scan(root, parent); err != nil {
			return nil, err
		}
	}
	if more := s.count - len(s.named); more > 0 {
		s.named = append(s.named, fmt.Sprintf("and %d more", more))
	}
	return s.named, nil
}

// squats counts every bad directory and keeps the first few names.
type squats struct {
	named []string
	count int
}

func (s *squats) add(path string, uid uint32) {
	if s.count++; len(s.named) < MaxSquatsListed {
		s.named = append(s.named, fmt.Sprintf("%s (owner uid %d)", path, uid))
	}
}

// scan reads parent in batches, so a directory with a million entries costs
// no more memory than one with a thousand.
func (s *squats) scan(root config.Root, parent string) error {
	dir, err := os.Open(root.Path(parent))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer dir.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(dir.Fd()), &st); err != nil {
		return err
	}
	if st.Uid != uint32(os.Geteuid()) {
		s.add(parent, st.Uid)
	}
	for {
		entries, err := dir.ReadDir(1024)
		for _, e := range entries {
			if err := s.check(root, parent, e.Name()); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (s *squats) check(root config.Root, parent, name string) error {
	uid, err := strconv.Atoi(strings.TrimPrefix(name, "user-"))
	if !strings.HasPrefix(name, "user-") || err != nil {
		return nil
	}
	var st syscall.Stat_t
	err = syscall.Lstat(root.Path(filepath.Join(parent, name)), &st)
	if errors.Is(err, syscall.ENOENT) {
		return nil // removed since the listing
	}
	if err != nil {
		return err
	}
	if int(st.Uid) != uid || st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		s.add(filepath.Join(parent, name), st.Uid)
	}
	return nil
}
