package images

import (
	"sync"
	"syscall"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/credentials/netrc"
)

// The agent's credentials file is needed on every manifest check, so on
// every cache hit, and it changes when the refresher rotates a token: a few
// times a day. Reading it through atomicfile's walk and parsing it each
// time cost about a quarter of a hit; netrcFile keeps the parsed file while
// a stat says it is the same file, unchanged.
//
// "The same" is the stat's device, inode, size, mtime and ctime. The agent
// replaces the file by rename (a new inode); any write in place moves its
// ctime. A file changed within racyWindow of its read is not kept (its
// next change could fall in the same clock tick and leave the stat as it
// was), so it is read again at the next check until it settles. A path
// that now leads elsewhere (a symlink planted on the way) stats as another
// file and is read again through the walk, which refuses it; one that
// leads to the very file already read reads nothing new.
type netrcFile struct {
	mu     sync.Mutex
	id     fileID
	parsed *netrc.Netrc
	now    func() time.Time // nil: time.Now; a test's clock
}

const racyWindow = 2 * time.Second

// fileID is what a stat says of a file's identity and content.
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime syscall.Timespec
}

func statID(path string) (fileID, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fileID{}, false
	}
	return fileID{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim, ctime: st.Ctim}, true
}

// get is the parsed file at path; nil when it cannot be read.
func (n *netrcFile) get(path string) *netrc.Netrc {
	before, ok := statID(path)
	if !ok {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.parsed != nil && n.id == before {
		return n.parsed
	}
	data, err := atomicfile.ReadFile(path)
	if err != nil {
		n.parsed = nil
		return nil
	}
	parsed := netrc.Parse(string(data))
	after, ok := statID(path)
	now := time.Now
	if n.now != nil {
		now = n.now
	}
	settled := now().Sub(time.Unix(after.ctime.Unix())) > racyWindow
	if ok && after == before && settled {
		n.id, n.parsed = after, parsed
	} else {
		n.parsed = nil
	}
	return parsed
}
