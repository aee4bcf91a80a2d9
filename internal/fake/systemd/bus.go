package systemd

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

// Stub is a stand-in for systemd's D-Bus API on a private, real
// dbus-daemon: the agent reaches it through DBUS_SYSTEM_BUS_ADDRESS, exactly
// as it reaches systemd on a node. It answers a unit's ActiveState,
// RestartUnit and Reload (daemon-reload), and emits JobRemoved with the
// configured result.
type Stub struct {
	Addr string // the bus address, for DBUS_SYSTEM_BUS_ADDRESS

	mu       sync.Mutex
	states   map[string]string
	result   string
	restarts []string
	reloads  int
	modes    []string
	conn     *dbus.Conn
	job      uint32
	kill     func() // stops dbus-daemon and removes its socket
}

const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`

// StartStub starts dbus-daemon in dir and claims org.freedesktop.systemd1
// on it. Every unit starts "active"; stop ends both.
func StartStub(dir string) (*Stub, error) {
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		return nil, fmt.Errorf("dbus-daemon not found: install the Debian package dbus")
	}
	// The socket lives in a short directory of its own: a test's TempDir
	// (named after the test and subtest) can exceed sun_path's 108 bytes.
	sockDir, err := os.MkdirTemp("", "bus-")
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(sockDir, "system_bus_socket")
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(busConfig, sock)), 0o644); err != nil {
		os.RemoveAll(sockDir)
		return nil, err
	}
	cmd := exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--nopidfile", "--print-address")
	var stderr bytes.Buffer // read only after Wait
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(sockDir)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(sockDir)
		return nil, err
	}
	kill := func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); os.RemoveAll(sockDir) }
	addr, err := readAddress(out)
	if err != nil {
		kill()
		return nil, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	s := &Stub{Addr: addr, states: map[string]string{}, result: "done", kill: kill}
	if err := s.serve(); err != nil {
		kill()
		return nil, err
	}
	return s, nil
}

// Close disconnects the stub and stops dbus-daemon.
func (s *Stub) Close() {
	s.conn.Close()
	s.kill()
}

func readAddress(out interface{ Read([]byte) (int, error) }) (string, error) {
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(l)
	}()
	select {
	case l := <-line:
		if l == "" {
			return "", fmt.Errorf("dbus-daemon printed no address")
		}
		return l, nil
	case <-time.After(10 * time.Second):
		return "", fmt.Errorf("dbus-daemon did not start in 10s")
	}
}

const (
	systemdName = "org.freedesktop.systemd1"
	managerPath = dbus.ObjectPath("/org/freedesktop/systemd1")
	managerIf   = "org.freedesktop.systemd1.Manager"
	unitPrefix  = "/org/freedesktop/systemd1/unit"
)

func (s *Stub) serve() error {
	conn, err := dbus.Connect(s.Addr)
	if err != nil {
		return err
	}
	s.conn = conn
	// Export first, claim the name last: no call can arrive while godbus
	// still mutates its table of objects.
	if err := conn.ExportMethodTable(map[string]any{"RestartUnit": s.restartUnit, "Reload": s.reload}, managerPath, managerIf); err != nil {
		return err
	}
	if err := conn.ExportSubtreeMethodTable(map[string]any{"Get": s.get}, unitPrefix, "org.freedesktop.DBus.Properties"); err != nil {
		return err
	}
	reply, err := conn.RequestName(systemdName, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		return fmt.Errorf("claim %s: reply %v, %v", systemdName, reply, err)
	}
	return nil
}
