// Package systemd stands in for systemd where no real one can run as PID 1:
// Stub answers systemd's D-Bus API (a unit's ActiveState, RestartUnit,
// Reload, JobRemoved) on a private, real dbus-daemon that the agent reaches
// through DBUS_SYSTEM_BUS_ADDRESS, and NotifySocket receives what the agent
// sends to NOTIFY_SOCKET.
package systemd
