package images

import (
	"errors"
	"fmt"

	"github.com/enroot-agent/enroot-agent/internal/rootpath"
)

// trustedPath says whether only root can change what dir names. A user who
// can write any ancestor of images.dir can rename the cache away and put a
// directory of their own, with their own images, at the path the daemon
// hands to jobs. So every existing component from / down to dir must be:
//
//   - a directory owned by root, writable by no one else: not by others at
//     all (a sticky 1777 directory is refused too: the sticky bit is the
//     file server's to enforce on a shared filesystem, and a user can
//     create the next component first), and by its group only when that
//     group is root's;
//   - or a symlink owned by root, whose target is checked the same way.
//
// A component that does not exist yet is made by the agent (root, 0755).
// The rule is internal/rootpath's, shared with pyxis.shared_dir; this adds
// what breaking it means for the cache.
func trustedPath(dir string) error {
	err := rootpath.Check(dir)
	var untrusted *rootpath.Error
	if errors.As(err, &untrusted) {
		return fmt.Errorf("%w: whoever can change it could put their own images where the cache is", err)
	}
	return err
}

// trustFix is what to do about an untrusted images.dir.
func trustFix(dir string) string {
	return fmt.Sprintf("make every directory above %s root's and writable by root alone (chown root:root, chmod go-w); "+
		"a shared filesystem whose top must stay 1777 (/fsx): mount a root-owned 0755 directory of it where only root can write "+
		"(mount --bind /fsx/enroot-agent-images %s, or a Lustre subdirectory mount) and keep images.dir there; then restart the agent", dir, dir)
}
