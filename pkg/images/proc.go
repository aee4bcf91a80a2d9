package images

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// The walk up the process tree (stepd.go) reads files of /proc on every
// get and release: read here with one buffer and parsed
// for the few fields the walk needs, not through a general /proc library
// (which stats the process's directory first and parses every line of
// status).

// procFileMax bounds what is read of one /proc file: stat and status are a
// few hundred bytes to 1.5 KiB; of cmdline only the title (argv[0]) counts.
const procFileMax = 4096

// procStat is what the walk needs of /proc/<pid>/stat.
type procStat struct {
	comm  string
	ppid  int
	start uint64 // clock ticks after boot: with pid, one process for the uptime
}

func readStat(pid int, buf []byte) (procStat, error) {
	data, err := readProcFile(pid, "stat", buf)
	if err != nil {
		return procStat{}, err
	}
	return parseStat(string(data))
}

// parseStat reads comm, ppid and starttime (fields 2, 4 and 22) of
// /proc/<pid>/stat. comm runs from the first '(' to the last ')': a command
// name may hold spaces and parentheses.
func parseStat(s string) (procStat, error) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procStat{}, fmt.Errorf("unreadable stat %q", cut(s))
	}
	f := strings.Fields(s[end+1:]) // f[0] is field 3, state
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("stat has %d fields after comm, want 20 or more", len(f))
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procStat{}, fmt.Errorf("stat ppid %q: %w", f[1], err)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("stat starttime %q: %w", f[19], err)
	}
	return procStat{comm: s[open+1 : end], ppid: ppid, start: start}, nil
}

// procStatus is what the walk needs of /proc/<pid>/status.
type procStatus struct {
	name string // comm, as status escapes it (a newline as \n)
	ppid int
	uids [4]uint64 // real, effective, saved, filesystem
}

func readStatus(pid int, buf []byte) (procStatus, error) {
	data, err := readProcFile(pid, "status", buf)
	if err != nil {
		return procStatus{}, err
	}
	return parseStatus(string(data))
}

// parseStatus reads the Name, PPid and Uid lines of /proc/<pid>/status.
func parseStatus(s string) (procStatus, error) {
	var ps procStatus
	name, ok := statusField(s, "Name")
	if !ok {
		return ps, errors.New("status has no Name line")
	}
	ps.name = name
	ppid, ok := statusField(s, "PPid")
	if !ok {
		return ps, errors.New("status has no PPid line")
	}
	var err error
	if ps.ppid, err = strconv.Atoi(ppid); err != nil {
		return ps, fmt.Errorf("status PPid %q: %w", ppid, err)
	}
	line, ok := statusField(s, "Uid")
	f := strings.Fields(line)
	if !ok || len(f) != 4 {
		return ps, fmt.Errorf("status Uid line %q", line)
	}
	for j, v := range f {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return ps, fmt.Errorf("status Uid line %q: %w", line, err)
		}
		ps.uids[j] = n
	}
	return ps, nil
}

// statusField is the value of the status line "<key>:\t<value>".
func statusField(s, key string) (string, bool) {
	s = "\n" + s // the line may be the first
	i := strings.Index(s, "\n"+key+":")
	if i < 0 {
		return "", false
	}
	line, _, _ := strings.Cut(s[i+len(key)+2:], "\n")
	return strings.TrimLeft(line, " \t"), true
}

// readTitle is a process's title: argv[0] as /proc/<pid>/cmdline shows it,
// which setproctitle rewrites (slurmstepd's "slurmstepd: [42.0]").
func readTitle(pid int, buf []byte) (string, error) {
	data, err := readProcFile(pid, "cmdline", buf)
	if err != nil && !errors.Is(err, errProcFileLong) {
		return "", err
	}
	title, _, _ := bytes.Cut(data, []byte{0})
	return string(title), nil
}

var errProcFileLong = errors.New("longer than 4 KiB")

// readProcFile reads /proc/<pid>/<name> into buf (its first len(buf)
// bytes, and errProcFileLong when there is more).
func readProcFile(pid int, name string, buf []byte) ([]byte, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/" + name
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			return buf[:n], nil
		}
		n += m
	}
	return buf[:n], errProcFileLong
}
