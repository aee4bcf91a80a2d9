package install

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// dpkgDB answers "which version of a package is installed" from dpkg's
// status file without starting a process: every converge asks about each
// prerequisite and Enroot package, and a dpkg-query per package was most of
// a warm apply's time (BENCHMARKS.md, row 1). The parse is kept until the
// file's inode, size or mtime changes (dpkg writes a new file and renames it
// over the old one); while dpkg's journal holds entries, version cannot
// answer and the caller asks dpkg-query, which reads the journal too.
type dpkgDB struct {
	mu       sync.Mutex
	id       [3]int64 // inode, size, mtime of the parsed file
	versions map[string]string
}

// version returns pkg's installed version ("" when not installed) and
// whether the status file could answer. It cannot while dpkg's journal
// (updates/) holds entries not yet merged into the file: dpkg-query reads
// those too.
func (d *dpkgDB) version(root, pkg string) (string, bool) {
	admin := filepath.Join(root, "/var/lib/dpkg")
	if pending, err := os.ReadDir(filepath.Join(admin, "updates")); err != nil || len(pending) > 0 {
		return "", false
	}
	path := filepath.Join(admin, "status")
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return "", false
	}
	id := [3]int64{int64(st.Ino), st.Size, st.Mtim.Nano()}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.versions == nil || d.id != id {
		data, err := os.ReadFile(path)
		if err != nil {
			return "", false
		}
		d.versions, d.id = parseDpkgStatus(string(data)), id
	}
	return d.versions[pkg], true
}

// parseDpkgStatus maps each installed package ("Status: install ok
// installed"; config-files and half-installed count as absent) to its
// upstream version, the Debian revision cut off (4.1.2-1 -> 4.1.2) as
// rpm's %{VERSION}.
func parseDpkgStatus(data string) map[string]string {
	out := map[string]string{}
	for _, stanza := range strings.Split(strings.ReplaceAll(data, "\r\n", "\n"), "\n\n") {
		var name, status, version string
		for _, line := range strings.Split(stanza, "\n") {
			key, val, ok := strings.Cut(line, ":")
			if !ok || strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
				continue // a continuation line of a multi-line field
			}
			switch val = strings.TrimSpace(val); key {
			case "Package":
				name = val
			case "Status":
				status = ""
				if f := strings.Fields(val); len(f) > 0 {
					status = f[len(f)-1]
				}
			case "Version":
				version = val
			}
		}
		if name == "" || status != "installed" || out[name] != "" {
			continue
		}
		if i := strings.LastIndex(version, "-"); i > 0 {
			version = version[:i]
		}
		out[name] = version
	}
	return out
}
