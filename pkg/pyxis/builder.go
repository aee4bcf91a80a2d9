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
	"github.com/enroot-agent/enroot-agent/pkg/artifact"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
	"go.uber.org/zap"
)

// buildTimeout bounds one compile; Pyxis builds in seconds.
const buildTimeout = 15 * time.Minute

// Fetcher is what the build needs of pkg/artifact.
type Fetcher interface {
	Fetch(ctx context.Context, req artifact.Request) (artifact.Result, error)
}

// Builder holds what the fetch and build steps share: the config, and the
// verified tarball the fetch step hands to the build step in one run.
type Builder struct {
	Cfg      config.Pyxis
	Root     config.Root
	StateDir string // host path
	CacheDir string // host path; the private build dir is made inside it
	Fetcher  Fetcher
	Log      *zap.Logger

	tarball *artifact.Result
}

// want is the record a build made now would write, for the node's Slurm.
func (b *Builder) want(sl slurm.Detected) Record {
	return Record{
		PyxisVersion:  b.Cfg.Version,
		Source:        b.source(),
		TarballSHA256: b.Cfg.SHA256,
		SlurmVersion:  sl.Version,
		Plugin:        filepath.Join(b.Cfg.Libdir, PluginName),
	}
}

func (b *Builder) source() string { return artifact.Expand(b.Cfg.Source, b.Cfg.Version) }

// stale says why a build is needed ("" when the installed plugin matches).
func (b *Builder) stale(ctx context.Context) (string, slurm.Detected, error) {
	sl, err := slurm.Detect(ctx, b.Root, b.Cfg.SlurmPrefix)
	if err != nil {
		return "", sl, err
	}
	rec, err := ReadRecord(b.Root, b.StateDir)
	if err != nil {
		return "", sl, err
	}
	want := b.want(sl)
	sum, err := pluginSum(b.Root.Path(want.Plugin))
	if err != nil {
		return "", sl, err
	}
	why := rec.Stale(want, sum)
	if why != "" {
		// Say it before downloading anything: a build cannot succeed.
		if err := checkToolchain(b.Root, sl, b.Cfg.SlurmPrefix); err != nil {
			return "", sl, fmt.Errorf("%s, but %w", why, err)
		}
	}
	return why, sl, nil
}

// fetch gets the verified tarball into the cache.
func (b *Builder) fetch(ctx context.Context) error {
	res, err := b.Fetcher.Fetch(ctx, artifact.Request{
		URL:    b.source(),
		Name:   fmt.Sprintf("pyxis-%s.tar.gz", b.Cfg.Version),
		SHA256: b.Cfg.SHA256,
	})
	if err != nil {
		return err
	}
	b.tarball = &res
	return nil
}

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
