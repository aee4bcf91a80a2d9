// Package rootpath says whether only root can change what a path names. A
// root daemon that reads something another node or user could have put
// there (a shared Pyxis build on /opt/slurm, the image cache on /fsx) must
// first know that no one but root can swap the directory: a user who can
// write any ancestor can rename the real one away and put their own in its
// place. So every existing component from / down must be
//
//   - a directory owned by root and writable by no one else: not by others
//     at all (a sticky 1777 directory is refused too: the sticky bit is the
//     file server's to enforce on a shared filesystem, and a user can create
//     the next component first), and by its group only when that group is
//     root's;
//   - or a symlink owned by root, whose target is checked the same way.
//
// Symlinks are followed as the kernel follows them (an absolute target
// starts again at the host's /), since that is the path the daemon's
// reads and writes really take, --root or not. A component that does not
// exist yet is fine: the agent, as root, makes it.
package rootpath
