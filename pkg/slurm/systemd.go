package slurm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// SlurmdUnit is slurmd's systemd unit: restarted when the plugins it loads
// change.
const SlurmdUnit = "slurmd.service"

// UnitManager is the little of systemd the agent needs.
type UnitManager interface {
	// ActiveState is the unit's ActiveState: active, inactive, failed, ...
	ActiveState(ctx context.Context, unit string) (string, error)
	// Restart restarts the unit and waits for systemd's job to finish.
	Restart(ctx context.Context, unit string) error
	// Reload rereads unit files and drop-ins (systemctl daemon-reload).
	Reload(ctx context.Context) error
	Close()
}

// ErrNoSystemd means there is no system bus, or no systemd on it: a
// container, a chroot, an image build. Nothing can be restarted there.
var ErrNoSystemd = errors.New("no systemd on the system bus")

// ConnectSystemd connects to systemd over the system bus. The bus address
// comes from DBUS_SYSTEM_BUS_ADDRESS, else the standard socket.
func ConnectSystemd(ctx context.Context, jobTimeout time.Duration) (UnitManager, error) {
	conn, err := sddbus.NewSystemConnectionContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoSystemd, err)
	}
	return &systemdManager{conn: conn, timeout: jobTimeout}, nil
}

// DefaultConnect connects to systemd with a 2-minute job timeout.
func DefaultConnect(ctx context.Context) (UnitManager, error) {
	return ConnectSystemd(ctx, 2*time.Minute)
}

type systemdManager struct {
	conn    *sddbus.Conn
	timeout time.Duration
}

func (m *systemdManager) ActiveState(ctx context.Context, unit string) (string, error) {
	p, err := m.conn.GetUnitPropertyContext(ctx, unit, "ActiveState")
	if err != nil {
		return "", noSystemd(err)
	}
	s, ok := p.Value.Value().(string)
	if !ok {
		return "", fmt.Errorf("%s: ActiveState is %s, not a string", unit, p.Value)
	}
	return s, nil
}

// restartMode is the job mode of the restart: "ignore-dependencies". The
// agent's unit is ordered Before=slurmd.service, so with "replace" the start
// half of the restart waits for any start job of the agent itself: a
// restart asked for during the agent's own start (its first converge, the
// start after a package upgrade) waits for the agent, which waits for the
// restart, until the job timeout (seen on a real systemd node). The agent
// restarts only an active slurmd, whose dependencies are already up, so
// the ordering has nothing left to order.
const restartMode = "ignore-dependencies"

// Restart queues a restart job and waits for its result. The channel is
// buffered: go-systemd's dispatcher sends the result without waiting, and
// an unbuffered channel we stopped reading (timeout) would block it forever.
func (m *systemdManager) Restart(ctx context.Context, unit string) error {
	done := make(chan string, 1)
	if _, err := m.conn.RestartUnitContext(ctx, unit, restartMode, done); err != nil {
		return fmt.Errorf("restart %s: %w", unit, noSystemd(err))
	}
	timer := time.NewTimer(m.timeout)
	defer timer.Stop()
	select {
	case result := <-done:
		if result != "done" {
			return fmt.Errorf("restart %s: systemd job finished %q (see journalctl -u %s)", unit, result, unit)
		}
		return nil
	case <-timer.C:
		return fmt.Errorf("restart %s: no result from systemd after %s (see systemctl status %s)", unit, m.timeout, unit)
	case <-ctx.Done():
		return fmt.Errorf("restart %s: %w", unit, ctx.Err())
	}
}

func (m *systemdManager) Reload(ctx context.Context) error {
	if err := m.conn.ReloadContext(ctx); err != nil {
		return fmt.Errorf("daemon-reload: %w", noSystemd(err))
	}
	return nil
}

func (m *systemdManager) Close() { m.conn.Close() }

// noSystemd marks the bus errors that mean "nobody is org.freedesktop.systemd1".
func noSystemd(err error) error {
	var name string
	var val dbus.Error
	var ptr *dbus.Error
	switch {
	case errors.As(err, &val):
		name = val.Name
	case errors.As(err, &ptr):
		name = ptr.Name
	}
	// A bus without systemd answers ServiceUnknown, or fails to activate the
	// name through its service file (Spawn.*).
	if strings.HasSuffix(name, ".ServiceUnknown") || strings.HasSuffix(name, ".NameHasNoOwner") || strings.Contains(name, ".Spawn.") {
		return fmt.Errorf("%w: %w", ErrNoSystemd, err)
	}
	return err
}
