package systemd

import (
	"fmt"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

// SetState sets a unit's ActiveState (active, inactive, failed, ...).
func (s *Stub) SetState(unit, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.states[unit] = state
}

// SetJobResult sets the result the next restart jobs end with ("done",
// "failed", "timeout", ...).
func (s *Stub) SetJobResult(result string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.result = result
}

// Restarts lists the units restarted so far, in order.
func (s *Stub) Restarts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.restarts...)
}

// Reloads counts the daemon-reloads asked for so far.
func (s *Stub) Reloads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reloads
}

func (s *Stub) reload() *dbus.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reloads++
	return nil
}

// JobModes lists the job mode of each restart so far, in order.
func (s *Stub) JobModes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.modes...)
}

func (s *Stub) restartUnit(name, mode string) (dbus.ObjectPath, *dbus.Error) {
	s.mu.Lock()
	s.job++
	id, result := s.job, s.result
	s.restarts = append(s.restarts, name)
	s.modes = append(s.modes, mode)
	s.mu.Unlock()
	job := dbus.ObjectPath(fmt.Sprintf("/org/freedesktop/systemd1/job/%d", id))
	// As systemd does: the reply first, the job's end later.
	go func() {
		time.Sleep(20 * time.Millisecond)
		_ = s.conn.Emit(managerPath, managerIf+".JobRemoved", id, job, name, result)
	}()
	return job, nil
}

func (s *Stub) get(msg dbus.Message, iface, prop string) (dbus.Variant, *dbus.Error) {
	path, _ := msg.Headers[dbus.FieldPath].Value().(dbus.ObjectPath)
	unit := unescape(strings.TrimPrefix(string(path), unitPrefix+"/"))
	if iface != "org.freedesktop.systemd1.Unit" || prop != "ActiveState" {
		return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.UnknownProperty", []any{prop})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	state, ok := s.states[unit]
	if !ok {
		state = "active"
	}
	return dbus.MakeVariant(state), nil
}

// unescape reverses systemd's object path escaping ("_2e" is ".").
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '_' && i+2 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+3], "%02x", &c); err == nil {
				b.WriteByte(c)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
