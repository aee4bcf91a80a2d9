package pyxis

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/pkg/artifact"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func tarball(t *testing.T, path string, files map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	f.Close()
}

// A compile error fails the build step with make's output in the error and
// in the log, and installs nothing.
func TestBuildFailureShowsCompilerOutput(t *testing.T) {
	src, root := t.TempDir(), t.TempDir()
	tarball(t, filepath.Join(src, "pyxis-0.24.0.tar.gz"), map[string]string{
		"pyxis-0.24.0/Makefile": "all:\n\t$(CC) $(CPPFLAGS) -c broken.c\n",
		"pyxis-0.24.0/broken.c": "#include <slurm/spank.h>\nthis is not C;\n",
	})
	write(t, root+"/usr/include/slurm/spank.h", "")
	write(t, root+"/usr/include/slurm/slurm_version.h", "#define SLURM_VERSION_NUMBER 0x160508\n")
	cfg := config.Default().Pyxis
	cfg.Source, cfg.SlurmPrefix = "file://"+src+"/pyxis-{version}.tar.gz", "/usr"
	core, logs := observer.New(zap.InfoLevel)
	b := &Builder{Cfg: cfg, Root: config.Root(root), StateDir: "/var/lib/enroot-agent", CacheDir: "/var/cache/enroot-agent",
		Log: zap.New(core), Fetcher: artifact.New(root+"/var/cache/enroot-agent/pyxis", zap.NewNop())}
	ctx := context.Background()
	fetch, build := &FetchStep{B: b}, &BuildStep{B: b}
	plan, err := fetch.Plan(ctx)
	if err != nil || plan.Done() {
		t.Fatalf("fetch plan: %+v %v", plan, err)
	}
	if err := plan.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	plan, err = build.Plan(ctx)
	if err != nil || plan.Done() {
		t.Fatalf("build plan: %+v %v", plan, err)
	}
	err = plan.Apply(ctx)
	if err == nil || !strings.Contains(err.Error(), "make all in") || !strings.Contains(err.Error(), "broken.c:2") {
		t.Fatalf("err = %v", err)
	}
	failed := logs.FilterMessage("pyxis build failed").All()
	if len(failed) != 1 || !strings.Contains(failed[0].ContextMap()["output"].(string), "broken.c:2") {
		t.Fatalf("log: %+v", logs.All())
	}
	if _, err := os.Stat(root + cfg.Libdir + "/" + PluginName); !os.IsNotExist(err) {
		t.Fatal("a failed build installed a plugin")
	}
	if entries, _ := os.ReadDir(root + "/var/cache/enroot-agent"); len(entries) != 1 {
		t.Fatalf("the private build dir was left behind: %v", entries)
	}
}
