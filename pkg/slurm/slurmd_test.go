package slurm

import (
	"fmt"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// statTail completes a /proc/<pid>/stat line after the start time: vsize,
// rss and the 28 fields a real one has after them.
const statTail = " 232620032 1794 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0\n"

// slurmd's start time is btime plus its start in clock ticks, from the
// oldest root-owned process named slurmd; the name is read between the
// first '(' and the last ')', so a process calling itself "x) (slurmd"
// is not slurmd, and a stat line that does not parse is skipped.
func TestSlurmdStarted(t *testing.T) {
	root := t.TempDir()
	r := config.Root(root)
	if _, running, err := SlurmdStarted(r); running || err != nil {
		t.Fatalf("no /proc: running=%v %v", running, err)
	}
	write(t, root+"/proc/stat", "cpu  1 2 3\nbtime 1700000000\nprocesses 5\n")
	write(t, root+"/proc/4242/stat", "4242 (slurmd) S 1 4242 4242 0 -1 4194624 1514 0 0 0 3 5 0 0 20 0 2 0 123456"+statTail)
	write(t, root+"/proc/4243/stat", "4243 (slurmd) S 4242 4242 4242 0 -1 4194624 1514 0 0 0 3 5 0 0 20 0 2 0 123999"+statTail)
	write(t, root+"/proc/77/stat", "77 (x) (slurmd) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 999"+statTail)
	write(t, root+"/proc/78/stat", "78 (slurmd) S 1 2")
	write(t, root+"/proc/79/stat", "79 (slurmd")
	started, running, err := SlurmdStarted(r)
	if want := time.Unix(1700000000+1234, 560_000_000); err != nil || !running || !started.Equal(want) {
		t.Fatalf("started %v running %v %v, want %v", started, running, err, want)
	}
	env := "HOME=/root\x00PATH=/opt/slurm/bin:/usr/bin\x00"
	write(t, root+"/proc/4242/environ", env)
	got, pid, running, err := SlurmdEnviron(r)
	if err != nil || !running || pid != 4242 || got["PATH"] != "/opt/slurm/bin:/usr/bin" {
		t.Fatalf("environ %v pid %d running %v %v", got, pid, running, err)
	}
	write(t, root+"/proc/stat", "cpu  1 2 3\nprocesses 5\n")
	if _, _, err := SlurmdStarted(r); err == nil {
		t.Fatal("a /proc/stat without btime must be an error")
	}
	write(t, root+"/proc/stat", fmt.Sprintf("btime %d\n", 1700000000))
	write(t, root+"/proc/4242/stat", "4242 (bash) S 1 4242 4242 0 -1 4194624 1514 0 0 0 3 5 0 0 20 0 2 0 123456"+statTail)
	if started, _, _ := SlurmdStarted(r); !started.Equal(time.Unix(1700000000+1239, 990_000_000)) {
		t.Fatalf("the oldest slurmd gone, the next one: %v", started)
	}
}
