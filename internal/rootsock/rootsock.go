package rootsock

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Listen serves path, readable and writable by root only. Connections
// from non-root peers are closed at Accept.
func Listen(path string) (net.Listener, error) {
	ln, err := ListenUnix(path, 0o600)
	if err != nil {
		return nil, err
	}
	return rootOnly{ln}, nil
}

// ListenUnix serves path with mode, replacing a stale socket (never another
// kind of file); Close removes the socket. Callers that serve other users
// check each peer themselves (PeerCred).
func ListenUnix(path string, mode os.FileMode) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket; remove it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	addr, done, err := shortPath(path)
	if err != nil {
		return nil, err
	}
	defer done()
	ln, err := net.Listen("unix", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	// Whoever connects before the chmod is still checked at Accept
	// (Listen refuses non-root peers).
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(path, mode); err != nil {
		_ = ln.Close()
		return nil, err
	}
	return unlinking{Listener: ln, path: path}, nil
}

// unlinking removes its socket file on Close, by the path it was given:
// the listener's own address may be a /proc/self/fd alias.
type unlinking struct {
	net.Listener
	path string
}

func (l unlinking) Close() error {
	err := l.Listener.Close()
	_ = os.Remove(l.path)
	return err
}

type rootOnly struct{ net.Listener }

func (l rootOnly) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if uid, err := PeerUID(c); err == nil && uid == 0 {
			return c, nil
		}
		_ = c.Close()
	}
}

// Dial connects to the server at path and returns the connection only when
// the process serving it runs as root.
func Dial(ctx context.Context, path string) (net.Conn, error) {
	addr, done, err := shortPath(path)
	if err != nil {
		return nil, err
	}
	defer done()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", addr)
	if err != nil {
		return nil, err
	}
	uid, err := PeerUID(c)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	if uid != 0 {
		_ = c.Close()
		return nil, fmt.Errorf("%s is served by uid %d, not root: not trusted", path, uid)
	}
	return c, nil
}

// PeerUID is the uid of the process at the other end of a unix connection,
// as the kernel recorded it at connect or listen.
func PeerUID(c net.Conn) (uint32, error) {
	cred, err := PeerCred(c)
	if err != nil {
		return 0, err
	}
	return cred.Uid, nil
}

// PeerCred is the pid, uid and gid of the process at the other end of a
// unix connection, as the kernel recorded them at connect or listen.
func PeerCred(c net.Conn) (*unix.Ucred, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, errors.New("not a unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, fmt.Errorf("SO_PEERCRED: %w", cerr)
	}
	return cred, nil
}

// PeerGroups is the supplementary groups of the process at the other end
// of a unix connection, as the kernel recorded them at connect
// (SO_PEERGROUPS, Linux 4.13+): what it could read with them, without a
// race against the peer's exit and a reused pid, and without trusting
// anything it says. The primary group is PeerCred's Gid.
func PeerGroups(c net.Conn) ([]uint32, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, errors.New("not a unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var groups []uint32
	var gerr error
	if err := raw.Control(func(fd uintptr) { groups, gerr = peerGroups(int(fd)) }); err != nil {
		return nil, err
	}
	if gerr != nil {
		return nil, fmt.Errorf("SO_PEERGROUPS: %w", gerr)
	}
	return groups, nil
}

// peerGroups asks with room for 64 groups, and again with the room the
// kernel says it needs (ERANGE); NGROUPS_MAX bounds it.
func peerGroups(fd int) ([]uint32, error) {
	n := 64
	for range 2 {
		buf := make([]uint32, n)
		size := uint32(4 * n)
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
		switch {
		case errno == 0:
			return buf[:size/4], nil
		case errno != unix.ERANGE || size/4 > 65536:
			return nil, errno
		}
		n = int(size / 4)
	}
	return nil, unix.ERANGE
}

// shortPath fits path into sun_path (108 bytes): a longer one (deep --root
// sandboxes) is reached through /proc/self/fd of its directory.
func shortPath(path string) (string, func(), error) {
	if len(path) < 100 {
		return path, func() {}, nil
	}
	fd, err := unix.Open(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("open %s: %w", filepath.Dir(path), err)
	}
	return fmt.Sprintf("/proc/self/fd/%d/%s", fd, filepath.Base(path)), func() { _ = unix.Close(fd) }, nil
}
