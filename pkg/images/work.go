package images

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
)

// Each import (and each prepull resolve) works in its own directory under
// .work/, named <node>-<key>-<random> (key: the digest hex and a hash of the
// source),
// removed when it ends. A daemon killed mid-import leaves its directory
// behind, with the partial image in it; it is removed by the next import
// from that source, from any node, which holds its lock and so
// knows no one else is importing it, and by the node's daemon when it
// starts, as no import of that node can be running then.

// workName names a work directory of what, an import's key.
func workName(node, what string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return node + "-" + what + "-" + hex.EncodeToString(b)
}

// parseWorkName splits a work directory's name; the node name may itself
// hold dashes, so it is cut from the right.
func parseWorkName(name string) (node, what string, ok bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return "", "", false
	}
	j := strings.LastIndexByte(name[:i], '-')
	if j <= 0 {
		return "", "", false
	}
	return name[:j], name[j+1 : i], true
}

// cleanWork removes the work directories abandoned by dead imports that
// match, and returns how many it removed. RemoveAll never follows a
// symlink the import user may have left.
func (s *Store) cleanWork(match func(node, what string) bool) int {
	parent := filepath.Join(s.Dir, ".work")
	entries, _ := os.ReadDir(parent)
	n := 0
	for _, e := range entries {
		node, what, ok := parseWorkName(e.Name())
		if !ok || !match(node, what) {
			continue
		}
		if os.RemoveAll(filepath.Join(parent, e.Name())) == nil {
			n++
		}
	}
	return n
}

// workspace makes a private directory for one import under parent, owned
// by the import user, with the directories enroot needs.
func workspace(parent, name string, cred *syscall.Credential) (string, error) {
	dir := filepath.Join(parent, name)
	opts := atomicfile.Options{Mode: 0o700, UID: int(cred.Uid), GID: int(cred.Gid)}
	for _, sub := range []string{"", "cache", "data", "tmp", "run", "config"} {
		if _, err := atomicfile.EnsureDir(filepath.Join(dir, sub), opts); err != nil {
			return "", err
		}
	}
	return dir, nil
}
