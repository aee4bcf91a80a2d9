package pyxis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/pkg/artifact"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// A spank_pyxis.so the agent did not build (a ParallelCluster AMI ships
// Pyxis 0.20.0 in /usr/local/lib/slurm) is replaced by the agent's build,
// deliberately: the plan says why, the log warns with the old digest, and
// the next plan is done.
func TestForeignPluginReplacedAndLogged(t *testing.T) {
	src, root := t.TempDir(), t.TempDir()
	tarball(t, filepath.Join(src, "pyxis-0.24.0.tar.gz"), map[string]string{
		"pyxis-0.24.0/Makefile": "all:\n\techo ours > spank_pyxis.so\ninstall:\n\tmkdir -p $(DESTDIR)$(libdir)/slurm\n\tcp spank_pyxis.so $(DESTDIR)$(libdir)/slurm/\n",
	})
	write(t, root+"/usr/include/slurm/spank.h", "")
	write(t, root+"/usr/include/slurm/slurm_version.h", "#define SLURM_VERSION_NUMBER 0x160508\n")
	cfg := config.Default().Pyxis
	cfg.Source, cfg.SlurmPrefix = "file://"+src+"/pyxis-{version}.tar.gz", "/usr"
	foreign := "AMI pyxis 0.20.0\n"
	write(t, root+cfg.Libdir+"/"+PluginName, foreign)
	os.MkdirAll(root+"/var/lib/enroot-agent", 0o700)
	sum := sha256.Sum256([]byte(foreign))
	oldSum := hex.EncodeToString(sum[:])

	core, logs := observer.New(zap.InfoLevel)
	b := &Builder{Cfg: cfg, Root: config.Root(root), StateDir: "/var/lib/enroot-agent", CacheDir: "/var/cache/enroot-agent",
		Log: zap.New(core), Fetcher: artifact.New(root+"/var/cache/enroot-agent/pyxis", zap.NewNop())}
	ctx := context.Background()
	fetch, build := &FetchStep{B: b}, &BuildStep{B: b}
	plan, err := build.Plan(ctx)
	if err != nil || !strings.Contains(plan.Reason, "sha256 "+oldSum+") was not built by the agent") {
		t.Fatalf("plan: %+v %v", plan, err)
	}
	fplan, _ := fetch.Plan(ctx)
	if err := fplan.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	if err := plan.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(root + cfg.Libdir + "/" + PluginName); string(got) != "ours\n" {
		t.Fatalf("plugin not replaced: %q", got)
	}
	warned := logs.FilterMessageSnippet("the agent did not build").All()
	if len(warned) != 1 || warned[0].Level != zap.WarnLevel || warned[0].ContextMap()["old_sha256"] != oldSum {
		t.Fatalf("log: %+v", logs.All())
	}
	if plan, err := build.Plan(ctx); err != nil || !plan.Done() {
		t.Fatalf("after the build: %+v %v", plan, err)
	}
}

// A Pyxis line the agent did not write, under any .so name, in a drop-in
// that the agent's include would start loading, is refused with its file,
// line and the fix, and nothing is written.
func TestForeignPyxisLineInDropInRefused(t *testing.T) {
	root := t.TempDir()
	step := plugstackStep(t, root)
	write(t, root+"/opt/slurm/etc/plugstack.conf", admin)
	write(t, root+"/opt/slurm/etc/plugstack.conf.d/00-ami.conf", "# from the image\nrequired /opt/parallelcluster/lib/pyxis.so\n")
	_, err := step.Plan(context.Background())
	if err == nil || !strings.Contains(err.Error(), "/opt/slurm/etc/plugstack.conf.d/00-ami.conf:2: required /opt/parallelcluster/lib/pyxis.so") ||
		!strings.Contains(err.Error(), "remove that line, or set pyxis.plugstack_managed: false") {
		t.Fatalf("a dormant foreign Pyxis line must be refused: %v", err)
	}
	if _, err := os.Stat(root + "/opt/slurm/etc/plugstack.conf.d/pyxis.conf"); !os.IsNotExist(err) {
		t.Fatal("the agent wrote its entry beside a foreign Pyxis")
	}
	// Once the admin removes it, the step wires Pyxis.
	os.Remove(root + "/opt/slurm/etc/plugstack.conf.d/00-ami.conf")
	if plan, err := step.Plan(context.Background()); err != nil || plan.Done() {
		t.Fatalf("plan: %+v %v", plan, err)
	}
}
