package pyxis

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
	"go.uber.org/zap"
)

// buildTimeout bounds one compile; Pyxis builds in seconds.
const buildTimeout = 15 * time.Minute

// build compiles the fetched tarball in a private directory, installs the
// plugin atomically (slurmd may dlopen it at any moment) and records it.
func (b *Builder) build(ctx context.Context, sl slurm.Detected) error {
	if b.tarball == nil {
		return fmt.Errorf("no verified Pyxis tarball: the fetch step did not run in this apply")
	}
	if err := checkToolchain(b.Root, sl, b.Cfg.SlurmPrefix); err != nil {
		return err
	}
	cache := b.Root.Path(b.CacheDir)
	if _, err := atomicfile.EnsureDir(cache, atomicfile.Options{Mode: 0o700, UID: -1, GID: -1}); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(cache, ".pyxis-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	staged, err := b.compile(ctx, dir, sl)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(staged)
	if err != nil {
		return err
	}
	plugin := filepath.Join(b.Cfg.Libdir, PluginName)
	if err := atomicfile.MkdirIfMissing(b.Root.Path(b.Cfg.Libdir)); err != nil {
		return err
	}
	if err := b.warnForeign(plugin); err != nil {
		return err
	}
	if _, err := atomicfile.Write(b.Root.Path(plugin), data, atomicfile.Default); err != nil {
		return err
	}
	rec := b.want(sl)
	rec.TarballSHA256 = b.tarball.SHA256
	rec.PluginSHA256, err = pluginSum(b.Root.Path(plugin))
	if err != nil {
		return err
	}
	b.Log.Info("pyxis installed", zap.String("plugin", b.Root.Path(plugin)), zap.String("slurm", sl.Version), zap.String("sha256", rec.PluginSHA256))
	return writeRecord(b.Root, b.StateDir, rec)
}

// warnForeign says so when the build replaces a plugin the agent did not
// install (a ParallelCluster AMI's own Pyxis, a hand-built one): the file
// is overwritten on purpose, since two Pyxis plugins must never load, and
// its digest is logged so the old one can be identified.
func (b *Builder) warnForeign(plugin string) error {
	old, err := atomicfile.SHA256(b.Root.Path(plugin))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	rec, err := ReadRecord(b.Root, b.StateDir)
	if err != nil || (rec.PyxisVersion != "" && rec.PluginSHA256 == old) {
		return err
	}
	b.Log.Warn("replacing a "+PluginName+" the agent did not build (no build record of ours, or another digest) with its own build",
		zap.String("plugin", b.Root.Path(plugin)), zap.String("old_sha256", old))
	return nil
}

// compile runs make and make install into a staging DESTDIR, and returns
// the staged plugin. The Makefile puts it in $(libdir)/slurm, so libdir is
// the parent of pyxis.libdir.
func (b *Builder) compile(ctx context.Context, dir string, sl slurm.Detected) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	src, stage := filepath.Join(dir, "src"), filepath.Join(dir, "stage")
	if err := Extract(b.tarball.Path, src); err != nil {
		return "", err
	}
	libdir := filepath.Dir(b.Cfg.Libdir)
	vars := map[string]string{
		"CPPFLAGS": "-I" + sl.Include,
		"prefix":   filepath.Dir(libdir),
		"libdir":   libdir,
		"DESTDIR":  stage,
	}
	for _, target := range []string{"all", "install"} {
		out, err := Make(ctx, src, vars, target)
		if err != nil {
			b.Log.Error("pyxis build failed", zap.String("target", target), zap.String("output", string(out)))
			return "", err
		}
		b.Log.Debug("pyxis build", zap.String("target", target), zap.String("output", string(out)))
	}
	return findPlugin(stage)
}
