package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
	fakeslurm "github.com/enroot-agent/enroot-agent/internal/fake/slurm"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/agent"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/pyxis"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
)

// Slurm versions the sandbox presents: A before the upgrade, B after (a
// new release, whose slurmd refuses a plugin built for A's); APoint is a
// point release of A, which loads A's plugin all the same.
const (
	slurmA      = "22.05.8"
	slurmAPoint = "22.05.9"
	slurmB      = "23.02.7"
)

// slurmAt makes root's Slurm (prefix /usr, as PyxisSandbox configures it)
// look like release v: an srun that answers `slurm v` and headers whose
// SLURM_VERSION_NUMBER is v, the real spank.h beside them. The files are
// written aside and renamed in, as a package upgrade replaces them.
func slurmAt(t *testing.T, root, v string) {
	t.Helper()
	inc := filepath.Join(root, "usr/include")
	if st, err := os.Lstat(inc); err == nil && st.Mode()&os.ModeSymlink != 0 {
		// PyxisSandbox linked the machine's headers; this node gets its own.
		if err := os.Remove(inc); err != nil {
			t.Fatal(err)
		}
	}
	testenv.MkdirAll(t, filepath.Join(inc, "slurm"), 0o755)
	spank, err := os.ReadFile("/usr/include/slurm/spank.h")
	if err != nil {
		t.Fatalf("%v: install the Debian package libslurm-dev (scripts/test-deps.sh)", err)
	}
	var a, b, c int
	if _, err := fmt.Sscanf(v, "%d.%d.%d", &a, &b, &c); err != nil {
		t.Fatal(err)
	}
	header := fmt.Sprintf("#ifndef _SLURM_VERSION_H_\n#define _SLURM_VERSION_H_\n#define SLURM_VERSION_NUMBER 0x%02x%02x%02x\n#endif\n", a, b, c)
	renameIn(t, filepath.Join(inc, "slurm/spank.h"), spank, 0o644)
	renameIn(t, filepath.Join(inc, "slurm/slurm_version.h"), []byte(header), 0o644)
	renameIn(t, filepath.Join(root, "usr/bin/srun"), []byte("#!/bin/sh\necho 'slurm "+v+"'\n"), 0o755)
}

// renameIn replaces path with a new file (a new inode), never in place.
func renameIn(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	testenv.WriteFile(t, path+".new", data, mode)
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// ctldLog is what slurmctld logged about node updates.
func ctldLog(t *testing.T, s *fakeslurm.Slurm) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(s.Dir, "slurmctld.log"))
	if err != nil {
		t.Fatal(err)
	}
	return grepLines(string(data), "update_node: ") + "\n"
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

func buildRecord(t *testing.T, root string) pyxis.Record {
	t.Helper()
	rec, err := pyxis.ReadRecord(config.Root(root), "/var/lib/enroot-agent")
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// A Slurm upgrade under the running daemon: the plugin check fails naming
// both releases, the agent drains the node with that root cause, rebuilds
// Pyxis for the new Slurm, restarts slurmd once, and resumes its own drain.
func TestDaemonSlurmUpgrade(t *testing.T) {
	cluster := testenv.StartSlurm(t)
	root, listen, stub := healthyNodeStub(t, "  node_name: "+cluster.Node+"\n  drain_on_failure: true\n  interval: 10s\n  cache_ttl: 1s\n")
	slurmRoot(t, cluster, root)
	slurmAt(t, root, slurmA)
	a := startAgent(t, root, listen, 0, append([]string{"DBUS_SYSTEM_BUS_ADDRESS=" + stub.Addr}, cluster.Env...)...)
	a.waitNotify(0, "READY=1", 90*time.Second)
	a.waitLog(`"msg":"status","status":"ready: `, 10*time.Second)
	if rec := buildRecord(t, root); rec.SlurmVersion != slurmA {
		t.Fatalf("first build recorded Slurm %q, want %s", rec.SlurmVersion, slurmA)
	}
	if n := nodeState(t, cluster); n.Drain {
		t.Fatalf("converged node drained: %+v", n)
	}
	restarts := len(stub.Restarts())
	plugin := filepath.Join(root, "usr/local/lib/slurm", pyxis.PluginName)
	before := inode(t, plugin)

	// A point release first: the daemon's checks see it and pass (the
	// plugin built for 22.05.8 loads in 22.05.9), so nothing is drained,
	// rebuilt or restarted, and a dry run plans nothing either.
	slurmAt(t, root, slurmAPoint)
	waitCheckSays(t, "http://"+listen, "pyxis-plugin", "Slurm "+slurmAPoint+" runs here")
	if code, body := get(t, "http://"+listen+"/verify"); code != 200 {
		t.Fatalf("/verify after the point release: %d\n%s", code, body)
	}
	out, _, _ := runAgent(t, "--root", root, "apply", "--dry-run")
	for step, o := range stepOutcomes(out) {
		if strings.HasPrefix(step, "pyxis-") || step == "slurmd-restart" {
			if o != "done" {
				t.Fatalf("a dry run after the point release plans %s: %s\n%s", step, o, out)
			}
		}
	}
	if rec := buildRecord(t, root); rec.SlurmVersion != slurmA || inode(t, plugin) != before || len(stub.Restarts()) != restarts {
		t.Fatalf("the point release rebuilt or restarted: record for %s, plugin replaced %v, restarts %v",
			rec.SlurmVersion, inode(t, plugin) != before, stub.Restarts()[restarts:])
	}
	if n := nodeState(t, cluster); n.Drain {
		t.Fatalf("the point release drained the node: %+v", n)
	}

	slurmAt(t, root, slurmB)
	upgraded := time.Now()
	a.waitLog(fmt.Sprintf("was built for Slurm %s but Slurm %s runs here", slurmA, slurmB), 30*time.Second)
	a.waitLog(`"msg":"repaired drift","step":"pyxis-build"`, 60*time.Second)
	if rec := buildRecord(t, root); rec.SlurmVersion != slurmB {
		t.Fatalf("rebuild recorded Slurm %q, want %s", rec.SlurmVersion, slurmB)
	}
	// slurmd may dlopen the plugin at any moment: the new one is renamed in,
	// never written over the old one.
	if inode(t, plugin) == before {
		t.Fatalf("%s was rewritten in place, not replaced by a rename", plugin)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(plugin), "*")); len(left) != 1 {
		t.Fatalf("left beside the plugin: %v", left)
	}
	waitNode(t, cluster, 30*time.Second, func(n slurm.Node) bool { return !n.Drain })
	// The drain lasts only as long as the rebuild (well under a second), too
	// short to catch by polling scontrol: slurmctld's own log is the record.
	ctl := ctldLog(t, cluster)
	drained := strings.Index(ctl, "node "+cluster.Node+" reason set to: "+agent.ReasonPrefix+"pyxis-plugin\n")
	if drained < 0 || !strings.Contains(ctl[drained:], "node "+cluster.Node+" state set to DRAINED") ||
		!strings.Contains(ctl[drained:], "node "+cluster.Node+" state set to IDLE") {
		t.Fatalf("slurmctld saw no drain for pyxis-plugin followed by a resume:\n%s", ctl)
	}
	t.Logf("upgrade to %s repaired and resumed %s after it landed", slurmB, time.Since(upgraded).Round(time.Millisecond))
	waitVerify(t, "http://"+listen, 200, 15*time.Second)
	if got := stub.Restarts()[restarts:]; len(got) != 1 || got[0] != slurm.SlurmdUnit {
		t.Fatalf("slurmd restarts after the upgrade: %v, want exactly one", got)
	}
}

// waitCheckSays polls the daemon's /verify until check's message holds want:
// an evaluation after the change the test made.
func waitCheckSays(t *testing.T, url, check, want string) {
	t.Helper()
	var last string
	if !fake.Eventually(60*time.Second, func() bool {
		_, rep, _ := getReport(t, url+"/verify")
		for _, r := range rep.Results {
			if r.Name == check {
				last = r.Message
				return strings.Contains(r.Message, want)
			}
		}
		return false
	}) {
		t.Fatalf("/verify's %s never said %q; last: %s", check, want, last)
	}
}
