package slurm

import (
	"context"
	"sync"
	"syscall"
)

// Detector finds the node's Slurm (Detect) and keeps what each srun binary
// answered to --version, keyed by the file's identity: the daemon converges
// and checks every few minutes, and a converged node must start no process
// for it. An upgrade replaces the binary (new inode, size or ctime), which
// misses the cache. The daemon builds one per config and hands it to every
// step and check that asks; a nil *Detector asks srun every time.
type Detector struct {
	mu   sync.Mutex
	srun map[string]srunAnswer
}

// NewDetector returns a Detector with an empty cache.
func NewDetector() *Detector { return &Detector{srun: map[string]srunAnswer{}} }

type srunAnswer struct {
	id      fileID
	version string
}

// fileID changes whenever the file is replaced or rewritten: a rename
// brings a new inode, an in-place write a new mtime and ctime.
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime syscall.Timespec
}

func identify(path string) (fileID, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fileID{}, false
	}
	return fileID{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim, ctime: st.Ctim}, true
}

// srunVersion is srunReports, run again only when srun changed. An srun
// that gave no answer is asked again next time. The lock is held while srun
// runs (10 s at most): checks run in parallel, and the ones that ask at
// once wait for one answer instead of each starting srun.
func (d *Detector) srunVersion(ctx context.Context, srun string) string {
	if d == nil {
		return srunReports(ctx, srun)
	}
	id, ok := identify(srun)
	if !ok {
		return ""
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if a, hit := d.srun[srun]; hit && a.id == id {
		return a.version
	}
	v := srunReports(ctx, srun)
	if v != "" {
		d.srun[srun] = srunAnswer{id: id, version: v}
	}
	return v
}
