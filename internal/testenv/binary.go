package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/awsproc"
	"github.com/enroot-agent/enroot-agent/internal/fake"
)

// binPrefix names the directories the agent is built into, one per test
// process: /tmp/enroot-agent-bin-pid<pid>. The "pid" keeps it apart from
// any other enroot-agent-bin-* name, which the sweep must not remove.
const binPrefix = "enroot-agent-bin-pid"

// Binary builds the real enroot-agent once per test process
// (fake.BuildAgent: static, laid out as the packages ship it) and returns
// the front's path; the agent it execs is at ../libexec/enroot-agent/ beside
// it, so a test that copies the front elsewhere gets the importer,
// `version` and `verify` through the daemon, not the agent.
// The build is kept on disk, not in a variable: the first call of a process
// builds into /tmp/enroot-agent-bin-pid<pid> under a lock, later calls find it
// there, and a build left by a process that has ended is removed.
func Binary(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), binPrefix+strconv.Itoa(os.Getpid()))
	bin := filepath.Join(dir, "bin", "enroot-agent")
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("build enroot-agent: %v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("build enroot-agent: lock %s: %v", lock.Name(), err)
	}
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	removeStale()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("build enroot-agent: %v", err)
	}
	if _, err := fake.BuildAgent(dir); err != nil {
		os.Remove(bin)
		t.Fatal(err)
	}
	return bin
}

// AWSHelper is the AWS helper of Binary's build, beside the agent: tests of
// pkg/credentials and pkg/artifact run it as the agent does.
func AWSHelper(t testing.TB) string {
	t.Helper()
	return filepath.Join(filepath.Dir(Binary(t)), "..", "libexec", "enroot-agent", awsproc.Name)
}

// removeStale removes the builds of test processes that have ended.
func removeStale() {
	entries, _ := os.ReadDir(os.TempDir())
	for _, e := range entries {
		pid, ok := strings.CutPrefix(e.Name(), binPrefix)
		if _, err := strconv.Atoi(pid); !ok || err != nil {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); os.IsNotExist(err) {
			p := filepath.Join(os.TempDir(), e.Name())
			os.RemoveAll(p)
			os.Remove(p + ".lock")
		}
	}
}
