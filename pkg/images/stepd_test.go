package images

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/pkg/importer"
)

// fakeStep runs commands the way a Slurm step runs its tasks: under a root
// process whose command name is slurmstepd and whose title is Slurm's
// "slurmstepd: [<job>.<step>]" (this machine's bash, copied under that name,
// with that argv[0]), as the step's user.
type fakeStep struct {
	bin string
	env []string
}

func newFakeStep(t testing.TB, dir string) *fakeStep {
	t.Helper()
	sh, err := os.ReadFile("/bin/bash")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "slurmstepd")
	if err := os.WriteFile(bin, sh, 0o755); err != nil {
		t.Fatal(err)
	}
	return &fakeStep{bin: bin}
}

// cmd runs argv as uid (and its primary group) under the slurmstepd of
// job.step; the slurmstepd waits for it, then exits.
func (s *fakeStep) cmd(title string, uid int, argv ...string) *exec.Cmd {
	script := `setpriv --reuid="$0" --regid="$0" --clear-groups -- "$@"; exit $?`
	cmd := exec.Command(s.bin, append([]string{"-c", script, strconv.Itoa(uid)}, argv...)...)
	cmd.Args[0] = title
	cmd.Env = append(os.Environ(), s.env...)
	return cmd
}

func (s *fakeStep) run(t *testing.T, job string, uid int, argv ...string) (string, error) {
	t.Helper()
	out, err := s.cmd("slurmstepd: ["+job+"]", uid, argv...).CombinedOutput()
	return string(out), err
}

// A hold belongs to the step the process tree says (issue finding 6): a
// request from a step's process holds the image for that step's
// slurmstepd, and the hold ends with it; a request that claims another
// step, that does not come from a step, or that comes from under a
// slurmstepd that is not root's is refused.
func TestHoldsBelongToTheStep(t *testing.T) {
	newFakeEnroot(t, 0)
	reg := newTestRegistry(t)
	_, d := reg.push(t, "ml/hello:v1", "held")
	base := worldDir(t)
	c := testCache(t, filepath.Join(base, "cache"), "n1")
	_, sock := serveCache(t, c, base)
	step := newFakeStep(t, base)
	curl := func(job, stepID string) []string {
		body := `{"uri":"docker://` + reg.Host + `#ml/hello:v1","digest":"` + string(d) + `","job":"` + job + `","step":"` + stepID + `"}`
		return []string{"curl", "-sS", "--max-time", "30", "--unix-socket", sock, "-d", body, "http://x" + importer.PathGet}
	}
	nobody := 65534

	out, err := step.run(t, "42.0", nobody, curl("42", "0")...)
	if err != nil || !strings.Contains(out, `"path":"`+c.Store.Path(d)+`"`) {
		t.Fatalf("a step's own request: %v\n%s", err, out)
	}
	holds, _ := filepath.Glob(filepath.Join(c.Store.Dir, ".holds", d.Encoded(), "*"))
	if len(holds) != 1 || filepath.Base(holds[0]) != "n1.65534.42.0" {
		t.Fatalf("holds: %v", holds)
	}
	// Its slurmstepd is gone (the step ended without release): the next
	// renewal drops the hold.
	c.Store.Renew("n1")
	if _, err := os.Stat(holds[0]); err == nil {
		t.Fatal("the hold outlived its slurmstepd")
	}

	for name, run := range map[string]func() (string, error){
		"another step's claim": func() (string, error) { return step.run(t, "42.0", nobody, curl("43", "0")...) },
		"another step id":      func() (string, error) { return step.run(t, "42.1", nobody, curl("42", "0")...) },
		"no step at all": func() (string, error) {
			out, err := exec.Command("runuser", append([]string{"-u", "nobody", "--"}, curl("42", "0")...)...).CombinedOutput()
			return string(out), err
		},
		"a user's own slurmstepd": func() (string, error) {
			// nobody runs the look-alike itself: comm and title match, the uid does not.
			out, err := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "--",
				"/bin/bash", "-c", `exec -a "slurmstepd: [42.0]" "$0" -c '"$@"; exit $?' x "$@"`, step.bin}, curl("42", "0")...)...).CombinedOutput()
			return string(out), err
		},
	} {
		out, err := run()
		if err != nil || !strings.Contains(out, "not a job step") || strings.Contains(out, `"path"`) {
			t.Errorf("%s: %v\n%s", name, err, out)
		}
	}
	if holds, _ := filepath.Glob(filepath.Join(c.Store.Dir, ".holds", d.Encoded(), "*")); len(holds) != 0 {
		t.Fatalf("a refused request left holds: %v", holds)
	}
	if n := c.Stats.Snapshot().Refused["not_a_step"]; n != 4 {
		t.Fatalf("refused not_a_step %d, want 4", n)
	}
}

// Slurm's titles of named steps, and a heterogeneous step's.
func TestStepTitles(t *testing.T) {
	for _, c := range []struct {
		title, step string
		ok          bool
	}{
		{"slurmstepd: [42.0]", "0", true},
		{"slurmstepd: [42.batch]", "4294967291", true},
		{"slurmstepd: [42.batch]", "batch", true},
		{"slurmstepd: [42.extern]", "4294967292", true},
		{"slurmstepd: [42.interactive]", "4294967290", true},
		{"slurmstepd: [42.3+1]", "3", true},
		{"slurmstepd: [42.0 stepmgr]", "0", true},
		{"slurmstepd: [42.1]", "0", false},
		{"slurmstepd: [42.10]", "1", false},
		{"slurmstepd: [421.0]", "0", false},
		{"[42.0]", "0", false},
	} {
		m := stepTitle.FindStringSubmatch(c.title)
		step := stepName(c.step)
		ok := m != nil && m[1] == "42" && (m[2] == step || hetComponent(m[2], step))
		if ok != c.ok {
			t.Errorf("%q claimed 42.%s: %v, want %v", c.title, c.step, ok, c.ok)
		}
	}
}

// The walk's /proc parsers, on literal lines: a command name may hold
// spaces and parentheses; the uids are the status file's four.
func TestProcParsers(t *testing.T) {
	st, err := parseStat("4242 (slurmstepd) S 1 4242 4242 0 -1 4194560 1067 0 0 0 3 2 0 0 20 0 3 0 3046885 290045952 1470 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n")
	if err != nil || st != (procStat{comm: "slurmstepd", ppid: 1, start: 3046885}) {
		t.Fatalf("slurmstepd's stat: %+v, %v", st, err)
	}
	st, err = parseStat("77 (a) (b c) R 76 77 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0\n")
	if err != nil || st != (procStat{comm: "a) (b c", ppid: 76, start: 99}) {
		t.Fatalf("a name with parentheses: %+v, %v", st, err)
	}
	for _, bad := range []string{"", "1 slurmstepd S 1", "1 (x) S 1 2 3", "1 (x) S p 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99 0"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q) passed", bad)
		}
	}
	ps, err := parseStatus("Name:\tbash\nUmask:\t0022\nState:\tS (sleeping)\nPid:\t7\nPPid:\t6\nUid:\t1000\t0\t0\t1000\nGid:\t100\t100\t100\t100\n")
	if err != nil || ps != (procStatus{name: "bash", ppid: 6, uids: [4]uint64{1000, 0, 0, 1000}}) {
		t.Fatalf("status %+v, %v", ps, err)
	}
	for _, bad := range []string{"Name:\tx\nPPid:\t1\n", "Name:\tx\nPPid:\t1\nUid:\t0\t0\t0\n", "Name:\tx\nPPid:\t1\nUid:\t0\t0\t0\t-1\n",
		"Name:\tx\nPPid:\t1\nEUid:\t0\t0\t0\t0\n", "PPid:\t1\nUid:\t0\t0\t0\t0\n", "Name:\tx\nUid:\t0\t0\t0\t0\n"} {
		if _, err := parseStatus(bad); err == nil {
			t.Errorf("parseStatus(%q) passed", bad)
		}
	}
}
