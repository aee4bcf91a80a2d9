package images

import (
	"sync"
	"time"
)

// Stats counts what the cache did, for the agent's metrics.
type Stats struct {
	mu sync.Mutex
	s  Snapshot
}

// Snapshot is a copy of the counters.
type Snapshot struct {
	Hits, Misses, Imports, ImportFailures, Corrupt, Evictions uint64
	ImportSeconds                                             float64
	ImportBytes                                               uint64
	CacheBytes                                                int64
	CachedImages                                              int
	// Refused counts requests the cache turned away, by reason: the
	// importer then imports on its own.
	Refused map[string]uint64
}

func (s *Stats) add(f func(*Snapshot)) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.s)
}

func (s *Stats) hit()     { s.add(func(x *Snapshot) { x.Hits++ }) }
func (s *Stats) miss()    { s.add(func(x *Snapshot) { x.Misses++ }) }
func (s *Stats) failed()  { s.add(func(x *Snapshot) { x.ImportFailures++ }) }
func (s *Stats) corrupt() { s.add(func(x *Snapshot) { x.Corrupt++ }) }
func (s *Stats) evicted() { s.add(func(x *Snapshot) { x.Evictions++ }) }
func (s *Stats) imported(d time.Duration, n int64) {
	s.add(func(x *Snapshot) { x.Imports++; x.ImportSeconds += d.Seconds(); x.ImportBytes += uint64(n) })
}
func (s *Stats) usage(entries []entry) {
	var bytes int64
	for _, e := range entries {
		bytes += e.size
	}
	s.add(func(x *Snapshot) { x.CacheBytes, x.CachedImages = bytes, len(entries) })
}
func (s *Stats) refused(reason string) {
	s.add(func(x *Snapshot) {
		if x.Refused == nil {
			x.Refused = map[string]uint64{}
		}
		x.Refused[reason]++
	})
}

// Snapshot returns the counters now.
func (s *Stats) Snapshot() Snapshot {
	if s == nil {
		return Snapshot{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.s
	out.Refused = map[string]uint64{}
	for k, v := range s.s.Refused {
		out.Refused[k] = v
	}
	return out
}
