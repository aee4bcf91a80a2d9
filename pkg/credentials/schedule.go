package credentials

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Schedule is a robfig/cron Schedule for the token refresh.
//
// With a Slot, every run falls at the same point of the interval, counted
// from the Unix epoch: a node's slot comes from its IPv4 address (see
// AddressSlot), so the nodes of one VPC, whose addresses differ, refresh at
// distinct, evenly spaced moments instead of at random ones. Independent
// random schedules make a Poisson process: 10,000 nodes at 6 h put 6 or 7
// calls into some second of every week (BENCHMARKS.md, fleet spread), while
// slots of one /16 are interval/65536 apart (0.33 s at 6 h), so no second
// holds more than 4, however many nodes there are.
//
// Without a slot (no IPv4 address), every Interval plus a random delay of
// up to Jitter, so nodes that booted together drift apart; the first time is
// then at a random offset within one interval after the refresh that started
// the node. Either way, a deadline set after each run pulls the next time
// earlier (an early refresh before a token expires, or a retry after a
// failure).
type Schedule struct {
	Interval time.Duration
	Jitter   time.Duration
	// Slot places every run at this offset into the interval; ignored
	// unless HasSlot.
	Slot    time.Duration
	HasSlot bool
	// Rand returns a uniform value in [0, n); n > 0.
	Rand func(n int64) int64

	mu       sync.Mutex
	started  bool
	deadline time.Time
}

// Next implements cron.Schedule.
func (s *Schedule) Next(now time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next time.Time
	switch {
	case s.HasSlot:
		next = nextSlot(now, s.Interval, s.Slot)
	case !s.started:
		next = now.Add(time.Duration(1 + s.Rand(int64(s.Interval))))
	default:
		next = now.Add(s.Interval + time.Duration(s.Rand(int64(s.Jitter)+1)))
	}
	s.started = true
	// A deadline counts once: cron asks again when a run starts, before that
	// run's outcome is known, and the refresher sets a new one after it.
	if d := s.deadline; !d.IsZero() {
		s.deadline = time.Time{}
		if d.Before(next) {
			next = later(d, now)
		}
	}
	return next
}

// nextSlot is the first time after now that lies slot into an interval
// counted from the Unix epoch.
func nextSlot(now time.Time, interval, slot time.Duration) time.Time {
	ns, iv := now.UnixNano(), int64(interval)
	k := (ns - int64(slot)) / iv
	t := k*iv + int64(slot)
	for t <= ns {
		t += iv
	}
	return time.Unix(0, t).In(now.Location())
}

// SetDeadline makes the next Next return no later than t.
func (s *Schedule) SetDeadline(t time.Time) {
	s.mu.Lock()
	s.deadline = t
	s.mu.Unlock()
}

// AddressSlot is a node's place in the interval: the low 16 bits of its
// IPv4 address, as a fraction of the interval. An AWS VPC is at most a /16,
// so within one CIDR block of a VPC every node has its own slot; nodes of
// different blocks may share one. ok is false for anything but IPv4, whose
// low bits are no such identity.
func AddressSlot(addr netip.Addr, interval time.Duration) (slot time.Duration, ok bool) {
	if !addr.Unmap().Is4() {
		return 0, false
	}
	b := addr.Unmap().As4()
	low := uint64(b[2])<<8 | uint64(b[3])
	return time.Duration(low * uint64(interval) / 65536), true
}

// primaryIPv4 is the address this node's traffic to the outside leaves
// from: connecting a UDP socket only asks the kernel for a route, and sends
// nothing. The zero Addr means none (no default route).
func primaryIPv4() netip.Addr {
	c, err := net.Dial("udp4", "192.0.2.1:9") // TEST-NET-1: never reached
	if err != nil {
		return netip.Addr{}
	}
	defer c.Close()
	if ua, ok := c.LocalAddr().(*net.UDPAddr); ok {
		if a, ok := netip.AddrFromSlice(ua.IP); ok && !a.Unmap().IsLoopback() {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// cronLogger adapts zap to cron's logr-style Logger. cron's Info lines
// ("wake", "run", "schedule") are chatter, so they go to debug.
type cronLogger struct{ log *zap.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.log.Debug("cron: "+msg, fields(kv)...) }

func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.log.Error("cron: "+msg, append(fields(kv), zap.Error(err))...)
}

func fields(kv []any) []zap.Field {
	var out []zap.Field
	for i := 0; i+1 < len(kv); i += 2 {
		key, ok := kv[i].(string)
		if !ok {
			key = "key"
		}
		out = append(out, zap.Any(key, kv[i+1]))
	}
	return out
}
