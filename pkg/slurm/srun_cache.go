package slurm

import (
	"context"
	"sync"
	"syscall"
)

// srunCache keeps what each srun binary answered to --version, keyed by the
// file's identity: the daemon converges and checks every few minutes, and a
// converged node must start no process for it. An upgrade replaces the
// binary (new inode, size or ctime), which misses the cache.
var srunCache = struct {
	sync.Mutex
	m map[string]srunAnswer
}{m: map[string]srunAnswer{}}

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

// cachedSrunVersion is srunReports, run again only when srun changed. An
// srun that gave no answer is asked again next time.
func cachedSrunVersion(ctx context.Context, srun string) string {
	id, ok := identify(srun)
	if !ok {
		return ""
	}
	srunCache.Lock()
	a, hit := srunCache.m[srun]
	srunCache.Unlock()
	if hit && a.id == id {
		return a.version
	}
	v := srunReports(ctx, srun)
	if v != "" {
		srunCache.Lock()
		srunCache.m[srun] = srunAnswer{id: id, version: v}
		srunCache.Unlock()
	}
	return v
}
