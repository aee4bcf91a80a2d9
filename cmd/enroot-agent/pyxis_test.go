package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
	"github.com/enroot-agent/enroot-agent/internal/fake/slurm"
	"github.com/enroot-agent/enroot-agent/internal/fake/systemd"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// pyxisNode is one node for the end-to-end Pyxis tests: the agent runs with
// --root root, and the config names plugstack and libdir under host, a real
// host directory whose etc and lib are symlinks into the root. So the files
// the agent writes inside its root are exactly the ones srun reads through
// host paths, include lines and all.
type pyxisNode struct {
	root, host, config, slurmConf, builds string
	srv                                   *pkgrepo.ArtifactServer
	stub                                  *systemd.Stub
}

const adminLines = "# site plugins, kept by every apply\noptional /usr/lib/slurm-site/spank_x11.so display=:0\n"

func newPyxisNode(t *testing.T, args string) *pyxisNode {
	t.Helper()
	n := &pyxisNode{root: t.TempDir(), host: t.TempDir()}
	section, srv := testenv.PyxisSandbox(t, n.root)
	n.srv = srv
	for _, d := range []string{"etc", "lib"} {
		inRoot := filepath.Join(n.root, n.host, d)
		if err := os.MkdirAll(inRoot, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(inRoot, filepath.Join(n.host, d)); err != nil {
			t.Fatal(err)
		}
	}
	n.write(t, "etc/plugstack.conf", adminLines)
	var err error
	if n.slurmConf, err = slurm.Conf(n.host, filepath.Join(n.host, "etc/plugstack.conf")); err != nil {
		t.Fatal(err)
	}
	stub := testenv.StartSystemdStub(t)
	n.stub = stub
	n.builds = filepath.Join(n.host, "builds")
	n.config = filepath.Join(n.host, "config.yaml")
	n.setArgs(t, args, section)
	t.Setenv("SLURM_CONF", n.slurmConf)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", stub.Addr)
	t.Setenv(pkgrepo.BuildLogEnv, n.builds)
	return n
}

func (n *pyxisNode) setArgs(t *testing.T, args, section string) {
	t.Helper()
	cfg := section + fmt.Sprintf("  plugstack: %s/etc/plugstack.conf\n  libdir: %s/lib/slurm\n  args: {%s}\n", n.host, n.host, args)
	if err := os.WriteFile(n.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (n *pyxisNode) write(t *testing.T, rel, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(n.host, rel), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (n *pyxisNode) read(t *testing.T, rel string) string {
	t.Helper()
	data, _ := os.ReadFile(filepath.Join(n.host, rel))
	return string(data)
}

func (n *pyxisNode) buildCount() int { return strings.Count(n.readFile(n.builds), "built\n") }

func (n *pyxisNode) readFile(p string) string { data, _ := os.ReadFile(p); return string(data) }

// apply runs the real binary and returns the outcome of each Pyxis step.
func (n *pyxisNode) apply(t *testing.T) map[string]string {
	t.Helper()
	out, errOut, _ := runAgent(t, "--root", n.root, "--config", n.config, "apply")
	got := stepOutcomes(out)
	for _, step := range []string{"pyxis-fetch", "pyxis-build", "pyxis-plugstack", "slurmd-restart"} {
		if o := got[step]; o != "changed" && o != "done" {
			t.Fatalf("step %s: %q\nstdout:\n%s\nstderr:\n%s", step, o, out, errOut)
		}
	}
	return got
}

func stepOutcomes(out string) map[string]string {
	got := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 {
			got[f[1]] = strings.TrimSuffix(f[2], ":")
		}
	}
	return got
}

// slurmHelp runs a real Slurm client's --help against the test slurm.conf.
func slurmHelp(t *testing.T, client string) string {
	t.Helper()
	out, err := exec.Command(client, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --help: %v\n%s", client, err, out)
	}
	return string(out)
}

func TestPyxisApplyBuildsWiresRestartsOnce(t *testing.T) {
	n := newPyxisNode(t, "container_scope: job")
	got := n.apply(t)
	for _, step := range []string{"pyxis-fetch", "pyxis-build", "pyxis-plugstack", "slurmd-restart"} {
		if got[step] != "changed" {
			t.Errorf("first apply: %s %s", step, got[step])
		}
	}
	if n.buildCount() != 1 || len(n.stub.Restarts()) != 1 || n.srv.Requests("v0.24.0.tar.gz") != 1 {
		t.Fatalf("first apply: %d builds, restarts %v, %d downloads", n.buildCount(), n.stub.Restarts(), n.srv.Requests("v0.24.0.tar.gz"))
	}
	for _, client := range []string{"srun", "sbatch", "salloc"} {
		if help := slurmHelp(t, client); !strings.Contains(help, pkgrepo.FixtureOption+"=IMAGE "+pkgrepo.FixtureUsage) {
			t.Errorf("%s --help does not list the plugin's option:\n%s", client, help)
		}
	}
	wantMain := adminLines + "# Added by enroot-agent: the Pyxis entry lives in plugstack.conf.d/pyxis.conf\ninclude " + n.host + "/etc/plugstack.conf.d/*.conf\n"
	if main := n.read(t, "etc/plugstack.conf"); main != wantMain {
		t.Fatalf("main plugstack:\n%s", main)
	}
	before := testenv.Snapshot(t, n.root)
	for step, o := range n.apply(t) {
		if strings.HasPrefix(step, "pyxis-") && o != "done" || step == "slurmd-restart" && o != "done" {
			t.Errorf("second apply: %s %s", step, o)
		}
	}
	if n.buildCount() != 1 || len(n.stub.Restarts()) != 1 || n.srv.Requests("v0.24.0.tar.gz") != 1 {
		t.Fatalf("second apply built, restarted or downloaded: %d builds, restarts %v, %d downloads", n.buildCount(), n.stub.Restarts(), n.srv.Requests("v0.24.0.tar.gz"))
	}
	if touched := testenv.Changed(before, testenv.Snapshot(t, n.root)); len(touched) > 0 {
		t.Errorf("second apply touched %v", touched)
	}
	// An argument change rewrites pyxis.conf only, and restarts slurmd.
	n.setArgs(t, "container_scope: job, runtime_path: /run/pyxis", strings.Split(n.readFile(n.config), "  plugstack:")[0])
	if got := n.apply(t); got["pyxis-plugstack"] != "changed" || got["pyxis-build"] != "done" || len(n.stub.Restarts()) != 2 {
		t.Fatalf("args change: %v, restarts %v", got, n.stub.Restarts())
	}
	if help := slurmHelp(t, "srun"); !strings.Contains(help, pkgrepo.FixtureUsage) {
		t.Fatal("srun lost the option after an argument change")
	}
}

func TestPyxisRebuildsForNewSlurmOrAlteredPlugin(t *testing.T) {
	n := newPyxisNode(t, "")
	n.apply(t)
	// The record says another Slurm: a new AMI under the same state dir.
	rec := filepath.Join(n.root, "var/lib/enroot-agent/pyxis-build.json")
	var r map[string]string
	json.Unmarshal([]byte(n.readFile(rec)), &r)
	r["slurm_version"] = "21.08.5"
	data, _ := json.Marshal(r)
	testenv.WriteFile(t, rec, data, 0o600)
	if got := n.apply(t); got["pyxis-build"] != "changed" || n.buildCount() != 2 {
		t.Fatalf("new Slurm: %v, %d builds", got, n.buildCount())
	}
	if n.srv.Requests("v0.24.0.tar.gz") != 1 {
		t.Fatal("the verified tarball in the cache must be reused")
	}
	so := filepath.Join(n.host, "lib/slurm/spank_pyxis.so")
	f, _ := os.OpenFile(so, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte("tampered"))
	f.Close()
	if got := n.apply(t); got["pyxis-build"] != "changed" || n.buildCount() != 3 {
		t.Fatalf("altered plugin: %v, %d builds", got, n.buildCount())
	}
	os.Remove(so)
	if got := n.apply(t); got["pyxis-build"] != "changed" || n.buildCount() != 4 {
		t.Fatalf("missing plugin: %v, %d builds", got, n.buildCount())
	}
	if help := slurmHelp(t, "srun"); !strings.Contains(help, pkgrepo.FixtureUsage) {
		t.Fatal("srun lost the option")
	}
}

// Without a compiler, apply says which package to install, before
// downloading anything, and wires nothing.
func TestPyxisWithoutCompilerNamesThePackage(t *testing.T) {
	n := newPyxisNode(t, "")
	testenv.MkdirAll(t, filepath.Join(n.root, "usr/lib"), 0o755)
	testenv.WriteFile(t, filepath.Join(n.root, "usr/lib/os-release"), []byte("ID=debian\nVERSION_ID=\"12\"\n"), 0o644)
	bin := t.TempDir()
	os.Symlink("/usr/bin/make", filepath.Join(bin, "make"))
	testenv.Binary(t) // built with the real PATH
	t.Setenv("PATH", bin)
	out, errOut, code := runAgent(t, "--root", n.root, "--config", n.config, "apply")
	want := "✗ pyxis-fetch      failed: Pyxis has not been built on this node, but cannot build Pyxis: missing a C compiler (cc) (apt install build-essential)"
	if code != 1 || !strings.Contains(out, want) {
		t.Fatalf("exit %d, want a line %q in:\n%s\n%s", code, want, out, errOut)
	}
	if got := stepOutcomes(out); got["pyxis-build"] != "blocked" || got["pyxis-plugstack"] != "blocked" || n.srv.Requests("v0.24.0.tar.gz") != 0 {
		t.Fatalf("%v, %d downloads", got, n.srv.Requests("v0.24.0.tar.gz"))
	}
}

// An argument Pyxis would refuse is a config error with its line, found
// before anything on the node is touched.
func TestPyxisBadArgumentIsAConfigError(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	testenv.WriteFile(t, cfg, []byte("pyxis:\n  version: \"0.20.0\"\n  args:\n    container_scope: node\n    use_squashfuse: 1\n    mount_home: 1\n"), 0o644)
	_, errOut, code := runAgent(t, "--root", dir, "--config", cfg, "apply")
	for _, want := range []string{
		cfg + `:4: pyxis.args.container_scope: "node" is not one of global, job`,
		cfg + ":5: pyxis.args.use_squashfuse: needs Pyxis 0.22.0 or newer; pyxis.version is 0.20.0",
		cfg + `:6: pyxis.args.mount_home: Pyxis has no argument "mount_home"`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("missing %q in:\n%s", want, errOut)
		}
	}
	if entries, _ := os.ReadDir(dir); code != 1 || len(entries) != 1 {
		t.Fatalf("exit %d; the root holds %v", code, entries)
	}
}

// A tarball that does not match pyxis.sha256 is discarded: nothing is built
// or wired, and the error says which digest was expected and which came.
func TestPyxisTarballMismatchBuildsNothing(t *testing.T) {
	n := newPyxisNode(t, "")
	section := strings.Split(n.readFile(n.config), "  plugstack:")[0]
	bad := strings.Repeat("0", 64)
	section = section[:strings.Index(section, "  sha256: ")] + "  sha256: " + bad + "\n" + section[strings.Index(section, "  slurm_prefix:"):]
	n.setArgs(t, "", section)
	out, errOut, _ := runAgent(t, "--root", n.root, "--config", n.config, "apply")
	got := stepOutcomes(out)
	if got["pyxis-fetch"] != "failed" || got["pyxis-build"] != "blocked" || got["pyxis-plugstack"] != "blocked" || n.buildCount() != 0 {
		t.Fatalf("%v, %d builds\n%s\n%s", got, n.buildCount(), out, errOut)
	}
	if !strings.Contains(out, "sha256 mismatch: expected "+bad) {
		t.Fatalf("the error must name the digests:\n%s", out)
	}
	if strings.Contains(n.read(t, "etc/plugstack.conf"), "include") {
		t.Fatal("the plugstack was wired without a plugin")
	}
}
