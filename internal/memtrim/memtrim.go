// Package memtrim gives back, once a daemon has started, the memory only
// its start-up used: the heap's free pages, and the pages of its own
// executable it mapped while starting.
//
// A Go binary's package initialisers are spread over the whole text
// segment, and the kernel maps 64 KiB around each page fault: by the time
// the agent is ready, about 15 MB of its 17.8 MB binary are mapped into
// it, though the idle daemon runs a small part of that code. Those pages
// are clean copies of the file; dropping them from the process
// (MADV_DONTNEED) leaves them in the page cache, where other processes of
// the same binary still find them and the kernel may reclaim them, and the
// daemon faults back only the pages it runs again. Writable mappings are
// never touched: their pages may differ from the file.
package memtrim

import (
	"bufio"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Mapping is one line of /proc/<pid>/maps.
type Mapping struct {
	Start, End uintptr
	Perms      string // "r-xp"
	Path       string // "" for anonymous memory
}

// ParseMaps reads /proc/<pid>/maps text (proc(5)).
func ParseMaps(text string) ([]Mapping, error) {
	var maps []Mapping
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 5 {
			return nil, fmt.Errorf("maps line %d: %d fields, want at least 5: %q", i+1, len(f), line)
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || end < start {
			return nil, fmt.Errorf("maps line %d: bad address range %q", i+1, f[0])
		}
		m := Mapping{Start: uintptr(start), End: uintptr(end), Perms: f[1]}
		if len(f) > 5 {
			// The path is the rest of the line: it may hold spaces, and
			// " (deleted)" once the file was replaced (a package upgrade).
			m.Path = strings.TrimSpace(line[nthField(line, 5):])
		}
		maps = append(maps, m)
	}
	return maps, nil
}

// nthField is the offset of the n-th (0-based) space-separated field.
func nthField(line string, n int) int {
	i := 0
	for k := 0; k < n; k++ {
		for i < len(line) && line[i] != ' ' {
			i++
		}
		for i < len(line) && line[i] == ' ' {
			i++
		}
	}
	return i
}

// Clean picks the mappings of the file exe that are private and never
// writable (text, read-only data): their pages are the file's own.
func Clean(maps []Mapping, exe string) []Mapping {
	var out []Mapping
	for _, m := range maps {
		if m.Path == exe && len(m.Perms) == 4 && m.Perms[1] == '-' && m.Perms[3] == 'p' {
			out = append(out, m)
		}
	}
	return out
}

// Report says what Trim gave back, from /proc/self/status before and after.
type Report struct {
	Advised               uintptr // bytes of the executable's mappings dropped
	AnonBefore, AnonAfter int64   // RssAnon, bytes
	FileBefore, FileAfter int64   // RssFile, bytes
}

// Trim returns the heap's free pages to the system and drops the clean
// pages of the running executable from the process. Call it once start-up
// is over; it costs a garbage collection.
func Trim() (Report, error) {
	var r Report
	r.AnonBefore, r.FileBefore = rss()
	debug.FreeOSMemory()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return r, fmt.Errorf("cannot tell the running executable: %w", err)
	}
	data, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return r, err
	}
	maps, err := ParseMaps(string(data))
	if err != nil {
		return r, fmt.Errorf("/proc/self/maps: %w", err)
	}
	for _, m := range Clean(maps, exe) {
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.Start, m.End-m.Start, unix.MADV_DONTNEED); errno != 0 {
			return r, fmt.Errorf("madvise %x-%x of %s: %w", m.Start, m.End, exe, errno)
		}
		r.Advised += m.End - m.Start
	}
	r.AnonAfter, r.FileAfter = rss()
	return r, nil
}

// rss reads RssAnon and RssFile of /proc/self/status, in bytes (0 when
// the kernel does not say).
func rss() (anon, file int64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, _ := strings.Cut(sc.Text(), ":")
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "RssAnon":
			anon = kb << 10
		case "RssFile":
			file = kb << 10
		}
	}
	return anon, file
}
