package install

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// perUser is the per-user suffix the default paths use.
const perUser = "/user-$(id -u)"

// SquattedDirs finds per-user enroot directories that do not belong to their
// user. The shared parents are world-writable (mode 1777), so a user could
// create /run/enroot/user-<someone else's uid> first; enroot would then run
// that user's containers in a directory the squatter controls. Only paths
// ending in /user-$(id -u) can be checked this way.
func SquattedDirs(root config.Root, conf map[string]string) ([]string, error) {
	var bad []string
	for _, k := range pathKeys {
		parent, ok := strings.CutSuffix(conf[k], perUser)
		if !ok || staticDir(conf[k]) != parent {
			continue
		}
		entries, err := os.ReadDir(root.Path(parent))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			uid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "user-"))
			if !strings.HasPrefix(e.Name(), "user-") || err != nil {
				continue
			}
			var st syscall.Stat_t
			if err := syscall.Lstat(root.Path(filepath.Join(parent, e.Name())), &st); err != nil {
				return nil, err
			}
			if int(st.Uid) != uid || st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
				bad = append(bad, fmt.Sprintf("%s (owner uid %d)", filepath.Join(parent, e.Name()), st.Uid))
			}
		}
	}
	return bad, nil
}
