package pyxis

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
	"github.com/enroot-agent/enroot-agent/internal/fake/systemd"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/artifact"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// The shared-build tests build the fixture Pyxis (internal/fake/pkgrepo) for
// real, with make and cc, against this machine's spank.h (libslurm-dev).
// A test node is a --root sandbox whose Slurm (prefix /usr) answers the
// version the test sets. Its /opt/slurm/lib is a root-owned symlink to one
// directory of the host that every node of the test sees, as every node of
// a cluster mounts the head node's /opt/slurm; pyxis.shared_dir keeps its
// default, /opt/slurm/lib/enroot-agent. Roots and the shared directory lie
// where only root can change them (testenv.RootOnlyDir), since the agent
// checks every directory above the shared one.

// sharedFixture is what every node of one test shares: the tarball served
// over HTTP (downloads are counted), the shared directory, the build log
// the fixture's Makefile appends to.
type sharedFixture struct {
	srv                  *pkgrepo.ArtifactServer
	sum                  string
	base, shared, builds string // shared: the host directory behind each node's /opt/slurm/lib/enroot-agent
}

func newSharedFixture(t *testing.T) *sharedFixture {
	t.Helper()
	for path, pkg := range map[string]string{"/usr/include/slurm/spank.h": "libslurm-dev", "/usr/bin/cc": "build-essential", "/usr/bin/make": "make"} {
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%s is missing: install the Debian package %s (scripts/test-deps.sh)", path, pkg)
		}
	}
	tarball, sum, err := pkgrepo.PyxisTarball(t.TempDir(), "0.24.0")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(tarball)
	if err != nil {
		t.Fatal(err)
	}
	srv := testenv.StartArtifactServer(t)
	srv.Put("v0.24.0.tar.gz", data)
	base := testenv.RootOnlyDir(t)
	testenv.MkdirAll(t, filepath.Join(base, "opt-slurm-lib"), 0o755)
	f := &sharedFixture{srv: srv, sum: sum, base: base, shared: filepath.Join(base, "opt-slurm-lib", "enroot-agent"),
		builds: filepath.Join(t.TempDir(), "builds")}
	t.Setenv(pkgrepo.BuildLogEnv, f.builds)
	return f
}

// buildCount is how many times the fixture was compiled, by any node.
func (f *sharedFixture) buildCount() int {
	data, _ := os.ReadFile(f.builds)
	return strings.Count(string(data), "built\n")
}

func pyxisConfig(source, sum string) config.Pyxis {
	cfg := config.Default().Pyxis
	cfg.Source, cfg.SHA256, cfg.SlurmPrefix = source, sum, "/usr"
	return cfg
}

// testNode is one node: its root, its steps, its log.
type testNode struct {
	name, root string
	b          *Builder
	logs       *observer.ObservedLogs
}

func (f *sharedFixture) node(t *testing.T, name, slurmVersion string) *testNode {
	t.Helper()
	root, err := os.MkdirTemp(f.base, name+"-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.MkdirAll(t, root+"/opt/slurm", 0o755)
	testenv.MkdirAll(t, root+"/var/lib/enroot-agent", 0o700)                          // the state-dir step's
	if err := os.Symlink(filepath.Dir(f.shared), root+"/opt/slurm/lib"); err != nil { // the NFS mount
		t.Fatal(err)
	}
	n := &testNode{name: name, root: root}
	n.slurmAt(t, slurmVersion)
	n.b = nodeBuilder(n, f.srv.URL+"v{version}.tar.gz", f.sum)
	write(t, root+n.b.Cfg.Plugstack, "required "+n.b.Cfg.Libdir+"/"+PluginName+"\n")
	return n
}

// nodeBuilder is n's Builder, as pkg/agent wires it, logging into n.logs.
func nodeBuilder(n *testNode, source, sum string) *Builder {
	cfg := pyxisConfig(source, sum)
	core, logs := observer.New(zap.DebugLevel)
	n.logs = logs
	log := zap.New(core)
	b := &Builder{Cfg: cfg, Root: config.Root(n.root), StateDir: "/var/lib/enroot-agent", CacheDir: "/var/cache/enroot-agent", Log: log,
		Fetcher: artifact.New(n.root+"/var/cache/enroot-agent/pyxis", zap.NewNop()),
		Shared:  NewShared(cfg, config.Root(n.root), log)}
	b.Shared.Host = n.name
	return b
}

// detected is the node's Slurm as the steps see it.
func detected(t *testing.T, n *testNode) slurm.Detected {
	t.Helper()
	sl, err := slurm.NewDetector("").Detect(context.Background(), n.b.Root, n.b.Cfg.SlurmPrefix)
	if err != nil {
		t.Fatal(err)
	}
	return sl
}

// restartFor is n's slurmd-restart step, reaching a systemd stand-in whose
// slurmd is active.
func restartFor(t *testing.T, n *testNode) (*RestartStep, *systemd.Stub) {
	t.Helper()
	stub := testenv.StartSystemdStub(t)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", stub.Addr)
	return &RestartStep{Cfg: n.b.Cfg, Root: n.b.Root, StateDir: n.b.StateDir, Log: zap.NewNop(), Connect: slurm.DefaultConnect}, stub
}

// slurmAt makes the node's Slurm answer version v: srun --version and the
// headers' SLURM_VERSION_NUMBER, beside the machine's real spank.h. Each
// file is replaced by a rename, as a package upgrade does.
func (n *testNode) slurmAt(t *testing.T, v string) {
	t.Helper()
	var a, b, c int
	if _, err := fmt.Sscanf(v, "%d.%d.%d", &a, &b, &c); err != nil {
		t.Fatal(err)
	}
	spank, err := os.ReadFile("/usr/include/slurm/spank.h")
	if err != nil {
		t.Fatal(err)
	}
	header := fmt.Sprintf("#define SLURM_VERSION_NUMBER 0x%02x%02x%02x\n", a, b, c)
	for rel, data := range map[string]string{"/usr/include/slurm/spank.h": string(spank), "/usr/include/slurm/slurm_version.h": header,
		"/usr/bin/srun": "#!/bin/sh\necho 'slurm " + v + "'\n"} {
		p := n.root + rel
		write(t, p+".new", data)
		if err := os.Chmod(p+".new", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(p+".new", p); err != nil {
			t.Fatal(err)
		}
	}
}

// converge runs the fetch and build steps as the runner does and returns
// what each planned ("" when done).
func (n *testNode) converge(t *testing.T) (fetch, build string) {
	t.Helper()
	ctx := context.Background()
	var got []string
	for _, s := range []converge.Step{&FetchStep{B: n.b}, &BuildStep{B: n.b}} {
		plan, err := s.Plan(ctx)
		if err != nil {
			t.Fatalf("%s: %s plan: %v", n.name, s.Name(), err)
		}
		got = append(got, plan.Summary())
		if err := plan.Apply(ctx); err != nil {
			t.Fatalf("%s: %s: %v", n.name, s.Name(), err)
		}
	}
	return got[0], got[1]
}

func (n *testNode) record(t *testing.T) Record {
	t.Helper()
	rec, err := ReadRecord(n.b.Root, n.b.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func (n *testNode) pluginSum(t *testing.T) string {
	t.Helper()
	sum, err := pluginSum(n.root + n.b.Cfg.Libdir + "/" + PluginName)
	if err != nil || sum == "" {
		t.Fatalf("%s: no plugin installed: %v", n.name, err)
	}
	return sum
}

// check runs one of the node's Pyxis checks.
func (n *testNode) check(t *testing.T, name string) verify.Result {
	t.Helper()
	cfg := config.Default()
	cfg.Pyxis = n.b.Cfg
	for _, c := range Checks(cfg, config.Root(n.root), slurm.NewDetector("")) {
		if c.Name() == name {
			return c.Run(context.Background())
		}
	}
	t.Fatalf("no check %s", name)
	return verify.Result{}
}
