package images

import (
	"os"
	"sync"
	"time"

	"github.com/prometheus/procfs"
)

// Progress is what one get shows its importer: what the daemon does, and a
// counter that moves while the work does. The importer falls back to the
// user's own import when the counter stands still too long, so a wedged
// import or daemon never holds a job.
type Progress struct {
	mu     sync.Mutex
	state  string
	n      int64
	follow *Progress
}

// Set says what the work is now.
func (p *Progress) Set(state string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = state
	p.n++
}

// Add counts n units of work done.
func (p *Progress) Add(n int64) {
	if p == nil || n <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += n
}

// Follow shows q's work (an import this get waits on) from now on.
func (p *Progress) Follow(q *Progress) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.follow = q
}

// Snapshot is the state and counter now, of the followed work if any.
func (p *Progress) Snapshot() (string, int64) {
	p.mu.Lock()
	state, n, q := p.state, p.n, p.follow
	p.mu.Unlock()
	if q != nil {
		qs, qn := q.Snapshot()
		return qs, n + qn
	}
	return state, n
}

// sampleEvery is how often a running import is measured.
const sampleEvery = time.Second

// meter measures a running import: the blob bytes the front sent, the size
// of the squashfs being written, and the CPU time of enroot's process group
// (children that ended count in their parent's). Each change of the sum
// moves the progress; a stuck transfer or process moves nothing.
type meter struct {
	fs   procfs.FS
	out  string // the squashfs enroot writes
	sent func() int64
	last int64
}

func newMeter(out string, sent func() int64) *meter {
	fs, _ := procfs.NewFS("/proc")
	return &meter{fs: fs, out: out, sent: sent}
}

// sample returns how much the import moved since the last sample, and the
// size of its output so far.
func (m *meter) sample(pgid int) (moved, outSize int64) {
	sum := m.sent() + m.cpu(pgid)
	if fi, err := os.Lstat(m.out); err == nil {
		outSize = fi.Size()
		sum += outSize
	}
	moved = sum - m.last
	if moved < 0 {
		moved = -moved
	}
	m.last = sum
	return moved, outSize
}

// cpu is the clock ticks of the processes in the group.
func (m *meter) cpu(pgid int) int64 {
	procs, err := m.fs.AllProcs()
	if err != nil {
		return 0
	}
	var ticks int64
	for _, p := range procs {
		st, err := p.Stat()
		if err != nil || st.PGRP != pgid {
			continue
		}
		ticks += int64(st.UTime) + int64(st.STime) + int64(st.CUTime) + int64(st.CSTime)
	}
	return ticks
}
