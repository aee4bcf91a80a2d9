package systemd

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Notification is one sd_notify datagram, as systemd would receive it.
type Notification struct {
	At    time.Time
	State string // e.g. "READY=1" or "STATUS=ready: ..."; several lines possible
}

// NotifySocket is a real unixgram socket standing in for systemd's
// NOTIFY_SOCKET: the agent under test sends to it exactly as on a node.
type NotifySocket struct {
	Path string
	conn *net.UnixConn
	dir  string

	mu   sync.Mutex
	msgs []Notification
	cond *sync.Cond
}

// StartNotifySocket listens in a fresh short temp dir (socket paths are
// limited to 108 bytes). Close removes it.
func StartNotifySocket() (*NotifySocket, error) {
	dir, err := os.MkdirTemp("", "notify-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	n := &NotifySocket{Path: path, conn: conn, dir: dir}
	n.cond = sync.NewCond(&n.mu)
	go n.read()
	return n, nil
}

func (n *NotifySocket) read() {
	buf := make([]byte, 64<<10)
	for {
		k, _, err := n.conn.ReadFromUnix(buf)
		if err != nil {
			n.mu.Lock()
			n.cond.Broadcast()
			n.mu.Unlock()
			return
		}
		n.mu.Lock()
		n.msgs = append(n.msgs, Notification{At: time.Now(), State: string(buf[:k])})
		n.cond.Broadcast()
		n.mu.Unlock()
	}
}

// Env is the variable that points a child process at this socket.
func (n *NotifySocket) Env() string { return "NOTIFY_SOCKET=" + n.Path }

// Messages returns every notification received so far.
func (n *NotifySocket) Messages() []Notification {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Notification(nil), n.msgs...)
}

// Wait returns the first notification at or after index from whose state
// has a line starting with prefix, and its index; ok is false on timeout.
func (n *NotifySocket) Wait(from int, prefix string, timeout time.Duration) (Notification, int, bool) {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { n.mu.Lock(); n.cond.Broadcast(); n.mu.Unlock() })
	defer timer.Stop()
	n.mu.Lock()
	defer n.mu.Unlock()
	for {
		for i := from; i < len(n.msgs); i++ {
			if HasLine(n.msgs[i].State, prefix) {
				return n.msgs[i], i, true
			}
		}
		if time.Now().After(deadline) {
			return Notification{}, -1, false
		}
		n.cond.Wait()
	}
}

// HasLine reports whether one of state's lines starts with prefix.
func HasLine(state, prefix string) bool {
	for _, line := range strings.Split(state, "\n") {
		if strings.HasPrefix(line, prefix) {
			return true
		}
	}
	return false
}

// Close stops listening and removes the socket.
func (n *NotifySocket) Close() {
	_ = n.conn.Close()
	_ = os.RemoveAll(n.dir)
}
