package slurm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
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

// ParallelCluster's compute slurmd.service (its cookbook's template).
const pclusterUnit = `[Unit]
Description=Slurm node daemon
After=munge.service network.target remote-fs.target
ConditionPathExists=/opt/slurm/etc/slurm.conf

[Service]
Type=simple
EnvironmentFile=-/etc/sysconfig/slurmd
ExecStart=/opt/slurm/sbin/slurmd -D $SLURMD_OPTIONS
KillMode=process
`

// applyPath converges s once and returns the files it wrote.
func applyPath(t *testing.T, s *PathStep) []string {
	t.Helper()
	plan, err := s.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var wrote []string
	for _, c := range plan.Changes {
		wrote = append(wrote, strings.TrimPrefix(c.Target, string(s.Root)))
	}
	if err := plan.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	if again, err := s.Plan(context.Background()); err != nil || !again.Done() {
		t.Fatalf("not converged after apply: %v %v", again, err)
	}
	return wrote
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

const wantPath = "PATH=/opt/slurm/bin:" + DefaultPath

// The fix goes where the node's unit reads its environment.
func TestPathStepWritesWhereTheUnitReads(t *testing.T) {
	for _, tc := range []struct {
		name, unitFile, unit string
		files                map[string]string // existing files
		wantFile, wantText   string
	}{{
		name: "ParallelCluster", unitFile: "/etc/systemd/system/slurmd.service", unit: pclusterUnit,
		wantFile: "/etc/sysconfig/slurmd", wantText: pathNote + wantPath + "\n",
	}, {
		name: "ParallelCluster, a PATH of its own", unitFile: "/etc/systemd/system/slurmd.service", unit: pclusterUnit,
		files:    map[string]string{"/etc/sysconfig/slurmd": "SLURMD_OPTIONS='-N node1'\nPATH=\"/usr/bin:/bin\"\n# site\n"},
		wantFile: "/etc/sysconfig/slurmd", wantText: "SLURMD_OPTIONS='-N node1'\n" + pathNote + "PATH=/opt/slurm/bin:/usr/bin:/bin\n# site\n",
	}, {
		name: "Slurm's unit reads both, /etc/default last", unitFile: "/usr/lib/systemd/system/slurmd.service", unit: upstreamUnit,
		files:    map[string]string{"/etc/default/slurmd": "SLURMD_OPTIONS=-M"},
		wantFile: "/etc/default/slurmd", wantText: "SLURMD_OPTIONS=-M\n" + pathNote + wantPath + "\n",
	}, {
		name: "a unit with no environment file", unitFile: "/lib/systemd/system/slurmd.service", unit: "[Service]\nExecStart=/opt/slurm/sbin/slurmd -D\n",
		wantFile: PathDropIn, wantText: "[Service]\n" + pathNote + "Environment=\"" + wantPath + "\"\n",
	}, {
		name: "a PATH from a drop-in", unitFile: "/lib/systemd/system/slurmd.service", unit: upstreamUnit,
		files:    map[string]string{"/etc/systemd/system/slurmd.service.d/override.conf": "[Service]\nEnvironment=PATH=/usr/bin:/bin\n"},
		wantFile: PathDropIn, wantText: "[Service]\n" + pathNote + "Environment=\"PATH=/opt/slurm/bin:/usr/bin:/bin\"\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			put(t, root, tc.unitFile, tc.unit)
			for p, text := range tc.files {
				put(t, root, p, text)
			}
			s := &PathStep{Root: config.Root(root), Prefix: "/opt/slurm"}
			if wrote := applyPath(t, s); len(wrote) != 1 || wrote[0] != tc.wantFile {
				t.Fatalf("wrote %q, want %s", wrote, tc.wantFile)
			}
			if got := readFile(t, filepath.Join(root, tc.wantFile)); got != tc.wantText {
				t.Fatalf("%s:\n%s\nwant:\n%s", tc.wantFile, got, tc.wantText)
			}
			file, line, err := s.Managed()
			if err != nil || file != tc.wantFile || !strings.Contains(line, "PATH=/opt/slurm/bin:") {
				t.Fatalf("managed %q %q %v", file, line, err)
			}
		})
	}
}

// Nothing to write: Debian's Slurm is in /usr/bin, on systemd's default
// PATH; a node with no slurmd unit has nothing to write to.
func TestPathStepLeavesAGoodPathAlone(t *testing.T) {
	root := t.TempDir()
	put(t, root, "/lib/systemd/system/slurmd.service", "[Service]\nEnvironmentFile=-/etc/default/slurmd\n")
	for _, s := range []*PathStep{{Root: config.Root(root), Prefix: "/usr"}, {Root: config.Root(t.TempDir()), Prefix: "/opt/slurm"}} {
		if wrote := applyPath(t, s); len(wrote) != 0 {
			t.Fatalf("wrote %q", wrote)
		}
		if file, _, _ := s.Managed(); file != "" {
			t.Fatalf("manages %s", file)
		}
	}
}

// fakeSlurmd puts a running slurmd with env into root's /proc.
func fakeSlurmd(t *testing.T, root string, env ...string) {
	t.Helper()
	put(t, root, "/proc/stat", "cpu 1 2 3\nbtime 1700000000\n")
	put(t, root, "/proc/4242/stat", "4242 (slurmd) S 1 4242 4242 0 -1 4194624 1514 0 0 0 3 5 0 0 20 0 2 0 123456"+statTail)
	put(t, root, "/proc/4243/stat", "4243 (slurmd) S 4242 4242 4242 0 -1 4194624 1514 0 0 0 3 5 0 0 20 0 2 0 123999"+statTail)
	put(t, root, "/proc/4242/environ", strings.Join(env, "\x00")+"\x00")
}

// The check reads the running slurmd's own environment.
func TestPathCheckReadsRunningSlurmd(t *testing.T) {
	root := t.TempDir()
	put(t, root, "/opt/slurm/bin/scontrol", "")
	put(t, root, "/etc/systemd/system/slurmd.service", pclusterUnit)
	check := PathCheck(config.Root(root), "/opt/slurm")
	if r := check.Run(context.Background()); r.Status != verify.OK || r.Message != "slurmd is not running here" {
		t.Fatalf("no slurmd: %+v", r)
	}
	fakeSlurmd(t, root, "LANG=C", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	r := check.Run(context.Background())
	if r.Status != verify.Fail || !strings.Contains(r.Message, "slurmd (pid 4242) runs with PATH=\"/usr/local/sbin") ||
		!strings.Contains(r.Message, "without /opt/slurm/bin") || !strings.HasPrefix(r.Fix, verify.ApplyFix) {
		t.Fatalf("slurmd without Slurm's bin: %+v", r)
	}
	// A user's own process named slurmd, older and with the right PATH, is
	// not the daemon.
	if os.Geteuid() != 0 {
		t.Fatal("this test hands a fake process to another user: run it as root (make test does)")
	}
	put(t, root, "/proc/4000/stat", "4000 (slurmd) S 1 4000 4000 0 -1 4194624 1514 0 0 0 3 5 0 0 20 0 2 0 100"+statTail)
	put(t, root, "/proc/4000/environ", "PATH=/opt/slurm/bin\x00")
	if err := os.Chown(filepath.Join(root, "proc/4000"), 1234, 1234); err != nil {
		t.Fatal(err)
	}
	if r := check.Run(context.Background()); r.Status != verify.Fail || !strings.Contains(r.Message, "pid 4242") {
		t.Fatalf("a user's process passed for slurmd: %+v", r)
	}
	fakeSlurmd(t, root, "PATH=/opt/slurm/bin:/usr/bin")
	if r := check.Run(context.Background()); r.Status != verify.OK || !strings.Contains(r.Message, "pid 4242") {
		t.Fatalf("slurmd with Slurm's bin: %+v", r)
	}
	if r := PathCheck(config.Root(root), "/usr/local").Run(context.Background()); r.Status != verify.Fail || !strings.Contains(r.Message, "/usr/local/bin/scontrol does not exist") {
		t.Fatalf("wrong prefix: %+v", r)
	}
}
