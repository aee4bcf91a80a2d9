package pyxis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// The first node builds and publishes; a later node downloads nothing,
// compiles nothing, and installs the same bytes, checked against the
// record; both checks say where each plugin came from.
func TestSharedBuildIsCopiedByLaterNodes(t *testing.T) {
	f := newSharedFixture(t)
	first := f.node(t, "head", "24.11.7")
	if fetch, build := first.converge(t); !strings.Contains(fetch, "fetch") || !strings.Contains(build, "publish "+first.b.Shared.Dir) {
		t.Fatalf("first node plans fetch %q, build %q", fetch, build)
	}
	if f.buildCount() != 1 || f.srv.Requests("v0.24.0.tar.gz") != 1 {
		t.Fatalf("first node: %d builds, %d downloads", f.buildCount(), f.srv.Requests("v0.24.0.tar.gz"))
	}
	if rec := first.record(t); !strings.HasPrefix(rec.Origin, "built here and published to "+first.b.Shared.Dir) {
		t.Fatalf("first node's record: %+v", rec)
	}
	later := f.node(t, "compute1", "24.11.7")
	fetch, build := later.converge(t)
	if fetch != "" || !strings.Contains(build, "copy "+later.b.Shared.Dir) {
		t.Fatalf("later node plans fetch %q, build %q", fetch, build)
	}
	if f.buildCount() != 1 || f.srv.Requests("v0.24.0.tar.gz") != 1 {
		t.Fatalf("later node built or downloaded: %d builds, %d downloads", f.buildCount(), f.srv.Requests("v0.24.0.tar.gz"))
	}
	if later.pluginSum(t) != first.pluginSum(t) {
		t.Fatal("the later node's plugin is not the first node's build")
	}
	if rec := later.record(t); !strings.HasPrefix(rec.Origin, "copied from "+later.b.Shared.Dir) || !strings.Contains(rec.Origin, "built by head") ||
		rec.SlurmVersion != "24.11.7" || rec.TarballSHA256 != f.sum {
		t.Fatalf("later node's record: %+v", rec)
	}
	for _, n := range []*testNode{first, later} {
		if r := n.check(t, "pyxis-plugin"); r.Status != verify.OK {
			t.Errorf("%s: pyxis-plugin %s: %s", n.name, r.Status, r.Message)
		}
		if r := n.check(t, CheckShared); r.Status != verify.OK || !strings.Contains(r.Message, "this node's plugin is that build") {
			t.Errorf("%s: %s %s: %s", n.name, CheckShared, r.Status, r.Message)
		}
	}
	// Converged, both plan nothing: the shared directory is not even read.
	for _, n := range []*testNode{first, later} {
		if fetch, build := n.converge(t); fetch != "" || build != "" {
			t.Errorf("%s converged plans fetch %q, build %q", n.name, fetch, build)
		}
	}
	var srec SharedRecord
	data, _ := os.ReadFile(filepath.Join(first.b.Shared.Entry(Key(first.b.Cfg, first.b.Root, detected(t, first))), sharedRecordName))
	if err := json.Unmarshal(data, &srec); err != nil || srec.BuiltBy != "head" || srec.Key.SlurmRelease != "24.11" || srec.Compiler == "" {
		t.Fatalf("the shared record: %v\n%s", err, data)
	}
}

// Several nodes at once on an empty shared directory, each its own
// process with its own root, as nodes of a cluster booting together: one
// builds, under the lock, and every other copies its build.
func TestSharedBuildLockContention(t *testing.T) {
	const nodes = 6
	f := newSharedFixture(t)
	roots := make([]*testNode, nodes)
	for i := range roots {
		roots[i] = f.node(t, fmt.Sprintf("node%d", i), "24.11.7")
	}
	var wg sync.WaitGroup
	outs := make([]string, nodes)
	for i, n := range roots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out bytes.Buffer
			cmd := exec.Command(os.Args[0], "-test.run=^TestSharedNodeProcess$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), nodeRootEnv+"="+n.root, nodeNameEnv+"="+n.name, nodeSourceEnv+"="+n.b.Cfg.Source, nodeSumEnv+"="+f.sum)
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				outs[i] = fmt.Sprintf("%s: %v\n%s", n.name, err, out.String())
				return
			}
			outs[i] = out.String()
		}()
	}
	wg.Wait()
	built, copied := 0, 0
	for i, n := range roots {
		if !strings.Contains(outs[i], "--- PASS: TestSharedNodeProcess") {
			t.Fatalf("node %s:\n%s", n.name, outs[i])
		}
		switch origin := n.record(t).Origin; {
		case strings.HasPrefix(origin, "built here and published"):
			built++
		case strings.HasPrefix(origin, "copied from "+n.b.Shared.Dir):
			copied++
		default:
			t.Errorf("%s: %q", n.name, origin)
		}
		if n.pluginSum(t) != roots[0].pluginSum(t) {
			t.Errorf("%s installed another plugin than %s", n.name, roots[0].name)
		}
	}
	if f.buildCount() != 1 || built != 1 || copied != nodes-1 {
		t.Fatalf("%d compiles, %d nodes built, %d copied; want 1, 1, %d", f.buildCount(), built, copied, nodes-1)
	}
}

// Environment of TestSharedNodeProcess, one node of the contention test.
const (
	nodeRootEnv   = "PYXIS_SHARED_TEST_ROOT"
	nodeNameEnv   = "PYXIS_SHARED_TEST_NODE"
	nodeSourceEnv = "PYXIS_SHARED_TEST_SOURCE"
	nodeSumEnv    = "PYXIS_SHARED_TEST_SHA256"
)

// TestSharedNodeProcess is one node of TestSharedBuildLockContention, run
// in a process of its own; it does nothing when run by go test itself.
func TestSharedNodeProcess(t *testing.T) {
	root := os.Getenv(nodeRootEnv)
	if root == "" {
		return
	}
	n := &testNode{name: os.Getenv(nodeNameEnv), root: root}
	n.b = nodeBuilder(n, os.Getenv(nodeSourceEnv), os.Getenv(nodeSumEnv))
	n.converge(t)
}

// A shared plugin altered after it was published (same size, one byte
// flipped: only its sha256 tells) is refused at the copy: the node builds
// its own, says so in its log and record, and puts its build in the
// altered one's place, which the next node then copies.
func TestSharedBuildAlteredIsRebuiltHere(t *testing.T) {
	f := newSharedFixture(t)
	first := f.node(t, "head", "24.11.7")
	first.converge(t)
	plugin := filepath.Join(first.b.Shared.Entry(Key(first.b.Cfg, first.b.Root, detected(t, first))), PluginName)
	good := first.pluginSum(t)
	data, err := os.ReadFile(plugin)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	testenv.WriteFile(t, plugin, data, 0o644)

	second := f.node(t, "compute1", "24.11.7")
	if _, build := second.converge(t); !strings.Contains(build, "copy") {
		t.Fatalf("the plan cannot see a flipped byte, and copies: %q", build)
	}
	if f.buildCount() != 2 {
		t.Fatalf("%d builds, want the node to build its own", f.buildCount())
	}
	warned := second.logs.FilterMessage("refused the shared Pyxis build: building here instead").All()
	if len(warned) != 1 || !strings.Contains(warned[0].ContextMap()["reason"].(string), "altered since it was published") {
		t.Fatalf("no warning naming the refused build: %+v", second.logs.All())
	}
	rec := second.record(t)
	if !strings.HasPrefix(rec.Origin, "built here and published") || !strings.Contains(rec.SharedNote, "altered since it was published") {
		t.Fatalf("record: %+v", rec)
	}
	if r := second.check(t, "pyxis-plugin"); r.Status != verify.OK || !strings.Contains(r.Message, "altered since it was published") {
		t.Errorf("pyxis-plugin: %s %s", r.Status, r.Message)
	}
	if sum := second.pluginSum(t); sum != good {
		t.Errorf("the node's own build differs from the first one (%s, %s): the fixture builds reproducibly", sum, good)
	}
	third := f.node(t, "compute2", "24.11.7")
	if _, build := third.converge(t); !strings.Contains(build, "copy") || f.buildCount() != 2 {
		t.Fatalf("the replaced build is not copied: %q, %d builds", build, f.buildCount())
	}
}

// A record or plugin that does not match is refused before anything is
// read from the plugin, and the check says so: a truncated plugin, a
// record for another key, a record that is not JSON.
func TestSharedBuildThatDoesNotVerify(t *testing.T) {
	for name, c := range map[string]struct {
		damage func(entry string)
		want   string
	}{
		"truncated plugin": {func(e string) { os.Truncate(filepath.Join(e, PluginName), 100) }, "100 bytes, but its record says"},
		"another key": {func(e string) {
			rec := filepath.Join(e, sharedRecordName)
			data, _ := os.ReadFile(rec)
			os.WriteFile(rec, bytes.Replace(data, []byte(`"slurm_release": "24.11"`), []byte(`"slurm_release": "24.05"`), 1), 0o644)
		}, "records a build for"},
		"not json":        {func(e string) { os.WriteFile(filepath.Join(e, sharedRecordName), []byte("{"), 0o644) }, "not a build record"},
		"user's plugin":   {func(e string) { os.Chown(filepath.Join(e, PluginName), 65534, 65534) }, ""},
		"user's record":   {func(e string) { os.Chown(filepath.Join(e, sharedRecordName), 65534, 65534) }, "owned by uid 65534"},
		"missing plugin":  {func(e string) { os.Remove(filepath.Join(e, PluginName)) }, "missing, though its record is there"},
		"writable record": {func(e string) { os.Chmod(filepath.Join(e, sharedRecordName), 0o666) }, "writable by every user"},
	} {
		t.Run(name, func(t *testing.T) {
			f := newSharedFixture(t)
			first := f.node(t, "head", "24.11.7")
			first.converge(t)
			c.damage(first.b.Shared.Entry(Key(first.b.Cfg, first.b.Root, detected(t, first))))
			second := f.node(t, "compute1", "24.11.7")
			entry := second.b.Shared.Entry(Key(second.b.Cfg, second.b.Root, detected(t, second)))
			r := second.check(t, CheckShared)
			if c.want != "" && (r.Status != verify.Unknown || !strings.Contains(r.Message, c.want) || !strings.Contains(r.Fix, "remove "+entry)) {
				t.Errorf("check before: %s %q (fix %q), want unknown saying %q", r.Status, r.Message, r.Fix, c.want)
			}
			if _, build := second.converge(t); c.want != "" && !strings.Contains(build, "run make") {
				t.Errorf("plan: %q, want a build of its own", build)
			}
			if f.buildCount() != 2 {
				t.Fatalf("%d builds: the node copied a build that does not verify", f.buildCount())
			}
			if r := second.check(t, CheckShared); r.Status != verify.OK {
				t.Errorf("check after the node replaced it: %s %s", r.Status, r.Message)
			}
		})
	}
}

// A shared directory someone besides root could change is not used at
// all: a build planted there (a plugin and a record that match each
// other) is not copied, nothing is written there, the node builds its own
// and the check names the directory and why.
func TestSharedDirUntrustedIsRefused(t *testing.T) {
	for name, damage := range map[string]func(dir string){
		"owned by a user":    func(d string) { os.Chown(d, 65534, 65534) },
		"world-writable":     func(d string) { os.Chmod(d, 0o777) },
		"group of users":     func(d string) { os.Chown(d, 0, 100); os.Chmod(d, 0o775) },
		"sticky like /fsx":   func(d string) { os.Chmod(d, 0o1777) },
		"parent of a user's": func(d string) { os.Chown(filepath.Dir(d), 65534, 65534) },
	} {
		t.Run(name, func(t *testing.T) {
			f := newSharedFixture(t)
			planter := f.node(t, "planter", "24.11.7")
			planter.converge(t)
			damage(f.shared)
			before := listDir(t, f.shared)
			n := f.node(t, "compute1", "24.11.7")
			if r := n.check(t, CheckShared); r.Status != verify.Unknown || !strings.Contains(r.Message, "someone besides root") || !strings.Contains(r.Fix, "chmod go-w") {
				t.Errorf("check: %s %q fix %q", r.Status, r.Message, r.Fix)
			}
			if _, build := n.converge(t); !strings.Contains(build, "run make") {
				t.Fatalf("plan: %q, want a build of its own", build)
			}
			if f.buildCount() != 2 || !strings.HasPrefix(n.record(t).Origin, "built here") || strings.Contains(n.record(t).Origin, "published") {
				t.Fatalf("%d builds, record %+v: want a build of its own, not published", f.buildCount(), n.record(t))
			}
			if warned := n.logs.FilterMessage("refused the shared Pyxis build: building here instead").All(); len(warned) != 1 {
				t.Errorf("no warning: %+v", n.logs.All())
			}
			if after := listDir(t, f.shared); after != before {
				t.Errorf("the node wrote into the untrusted directory:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// A point release of Slurm (24.11.7 -> 24.11.8) plans nothing: no
// download, no build, no restart of slurmd; a node that boots on it later
// copies the build of 24.11.7 (same key: Slurm 24.11). A new release
// (25.11) is another key: built once more, and published beside it.
func TestPointReleaseRebuildsNothing(t *testing.T) {
	f := newSharedFixture(t)
	first := f.node(t, "head", "24.11.7")
	restart, stub := restartFor(t, first)
	first.converge(t)
	if n, err := converge1(t, restart); n != 1 || err != nil || len(stub.Restarts()) != 1 {
		t.Fatalf("first slurmd restart: %d changes, %v, restarts %v", n, err, stub.Restarts())
	}
	first.slurmAt(t, "24.11.8")
	if fetch, build := first.converge(t); fetch != "" || build != "" {
		t.Fatalf("point release plans fetch %q, build %q", fetch, build)
	}
	if n, err := converge1(t, restart); n != 0 || err != nil || len(stub.Restarts()) != 1 {
		t.Fatalf("point release restarts slurmd: %d changes, %v, restarts %v", n, err, stub.Restarts())
	}
	if r := first.check(t, "pyxis-plugin"); r.Status != verify.OK || !strings.Contains(r.Message, "Slurm 24.11.8 runs here: the same release 24.11") {
		t.Fatalf("pyxis-plugin after the point release: %s %s", r.Status, r.Message)
	}
	booted := f.node(t, "compute1", "24.11.8")
	if _, build := booted.converge(t); !strings.Contains(build, "copy") || f.buildCount() != 1 || f.srv.Requests("v0.24.0.tar.gz") != 1 {
		t.Fatalf("a node on the point release: plan %q, %d builds, %d downloads", build, f.buildCount(), f.srv.Requests("v0.24.0.tar.gz"))
	}
	first.slurmAt(t, "25.11.0")
	if fetch, build := first.converge(t); fetch == "" || !strings.Contains(build, "run make") || f.buildCount() != 2 {
		t.Fatalf("new release: fetch %q, build %q, %d builds", fetch, build, f.buildCount())
	}
	if entries := listDir(t, f.shared); strings.Count(entries, "/build.json") != 2 {
		t.Fatalf("want a build per release side by side: %s", entries)
	}
	if n, err := converge1(t, restart); n != 1 || err != nil || len(stub.Restarts()) != 2 {
		t.Fatalf("new release: %d changes, %v, restarts %v", n, err, stub.Restarts())
	}
}

func listDir(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil {
			info, _ := d.Info()
			out = append(out, fmt.Sprintf("%s %v %d", strings.TrimPrefix(p, dir), info.Mode(), info.Size()))
		}
		return nil
	})
	return strings.Join(out, "; ")
}
