package testenv

import (
	"io/fs"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
)

// FileID is what the kernel says of one entry: two snapshots differ wherever
// anything was written, replaced, chmod-ed, linked, created or removed.
type FileID struct {
	Ino, Size   int64
	Mtime       syscall.Timespec
	Mode, Nlink uint32
}

// Snapshot identifies every entry under root, without following symlinks.
func Snapshot(tb testing.TB, root string) map[string]FileID {
	tb.Helper()
	snap := map[string]FileID{}
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		snap[p] = FileID{int64(st.Ino), st.Size, st.Mtim, st.Mode, uint32(st.Nlink)}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return snap
}

// Changed lists, sorted, the paths that differ between two snapshots,
// including those created or removed.
func Changed(before, after map[string]FileID) []string {
	var out []string
	for p, id := range after {
		if old, ok := before[p]; !ok || old != id {
			out = append(out, p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}
