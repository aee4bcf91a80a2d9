package pyxis

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/artifact"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
	"go.uber.org/zap"
)

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
	Slurm    *slurm.Detector // the daemon's, which keeps srun's answer; nil asks srun every time
	// Shared is pyxis.shared_dir, where one node builds for the others
	// (nil: every node builds its own).
	Shared *Shared

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
	sl, err := b.Slurm.Detect(ctx, b.Root, b.Cfg.SlurmPrefix)
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
	return rec.Stale(want, sum), sl, nil
}

// fromShared is the shared build a stale node would copy, "" when there is
// none to copy (sharing off, no build yet, or one Look refuses: the build
// step then says why). Plans only look; the copy verifies the digest.
func (b *Builder) fromShared(sl slurm.Detected) string {
	if b.Shared == nil {
		return ""
	}
	key := Key(b.Cfg, b.Root, sl)
	if _, err := b.Shared.Look(key); err != nil {
		return ""
	}
	return b.Shared.Entry(key)
}

// canBuild says, before anything is downloaded, when a build cannot succeed.
func (b *Builder) canBuild(why string, sl slurm.Detected) error {
	if err := checkToolchain(b.Root, sl, b.Cfg.SlurmPrefix); err != nil {
		return fmt.Errorf("%s, but %w", why, err)
	}
	return nil
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

// buildTimeout bounds one compile; Pyxis builds in seconds.
const buildTimeout = 15 * time.Minute

// build installs the plugin for sl: a copy of the shared build for this
// node's key when another node made one, else a build of its own, which it
// publishes for the others when it may write the shared directory.
func (b *Builder) build(ctx context.Context, sl slurm.Detected) error {
	// The tarball the fetch step got is for this converge's build only: a
	// Builder lives as long as its config (pkg/node), and the next build
	// fetches its own (from the cache when it is still there).
	defer func() { b.tarball = nil }()
	if b.Shared == nil {
		return b.buildHere(ctx, sl, BuildKey{}, nil, "")
	}
	key := Key(b.Cfg, b.Root, sl)
	data, srec, err := b.Shared.Load(key)
	if err == nil {
		return b.installCopy(data, srec, key)
	}
	note := b.sharedNote(err)
	var refusedDir *RefusedError
	if errors.Is(err, errSharedOff) || errors.As(err, &refusedDir) && refusedDir.Untrusted {
		return b.buildHere(ctx, sl, key, nil, note)
	}
	data, srec, unlock, err := b.Shared.Claim(ctx, key)
	switch {
	case err == nil && unlock == nil:
		return b.installCopy(data, srec, key)
	case unlock != nil:
		// Still no build, or still the refused one (said already), which
		// this node now replaces.
		defer unlock()
		if note == "" {
			note = b.sharedNote(err)
		}
		return b.buildHere(ctx, sl, key, b.Shared, note)
	case ctx.Err() != nil:
		return err
	}
	return b.buildHere(ctx, sl, key, nil, strings.TrimPrefix(note+"; "+b.sharedNote(err), "; "))
}

// sharedNote says, for the log and the build record, why the shared build
// was not used; refusals are warnings, since someone altered a build or
// the directory, and the admin should know.
func (b *Builder) sharedNote(err error) string {
	var ref *RefusedError
	switch {
	case errors.Is(err, errNoBuild):
		return ""
	case errors.Is(err, errSharedOff):
		// No shared filesystem here (a node without /opt/slurm): nothing
		// to report, every node builds its own.
		b.Log.Debug("building Pyxis here: no shared build directory", zap.String("why", err.Error()))
		return ""
	case errors.Is(err, errReadOnly):
		b.Log.Info("building Pyxis here: the shared build directory cannot serve this node", zap.String("shared_dir", b.Shared.Dir), zap.String("why", err.Error()))
		return err.Error()
	case errors.As(err, &ref):
		b.Log.Warn("refused the shared Pyxis build: building here instead", zap.String("path", ref.Path), zap.String("reason", ref.Reason))
		return "refused " + err.Error()
	}
	b.Log.Warn("the shared Pyxis build could not be used: building here instead", zap.String("shared_dir", b.Shared.Dir), zap.Error(err))
	return err.Error()
}

// installCopy installs another node's verified build.
func (b *Builder) installCopy(data []byte, srec SharedRecord, key BuildKey) error {
	rec := b.want(slurm.Detected{Version: srec.SlurmVersion})
	rec.TarballSHA256 = srec.TarballSHA256
	rec.Origin = "copied from " + b.Shared.Entry(key) + " (built by " + srec.BuiltBy + ")"
	return b.install(data, rec)
}

// buildHere compiles the plugin on this node and installs it; with publish
// (this node holds the shared lock) it also puts the build in the shared
// directory. A build that cannot be published still serves this node.
func (b *Builder) buildHere(ctx context.Context, sl slurm.Detected, key BuildKey, publish *Shared, note string) error {
	if err := checkToolchain(b.Root, sl, b.Cfg.SlurmPrefix); err != nil {
		if note != "" {
			return fmt.Errorf("no usable shared build (%s), and %w", note, err)
		}
		return err
	}
	if b.tarball == nil {
		// The fetch step found a shared build to copy, which was gone or
		// refused by the time this step ran.
		if err := b.fetch(ctx); err != nil {
			return err
		}
	}
	data, err := b.compileInCache(ctx, sl)
	if err != nil {
		return err
	}
	rec := b.want(sl)
	rec.TarballSHA256 = b.tarball.SHA256
	rec.Origin, rec.SharedNote = "built here", note
	if publish != nil {
		srec := SharedRecord{SlurmVersion: sl.Version, TarballSHA256: b.tarball.SHA256, Compiler: compilerVersion(ctx)}
		if err := publish.Publish(key, data, srec); err != nil {
			b.Log.Warn("could not publish the Pyxis build for the other nodes", zap.String("shared_dir", publish.Dir), zap.Error(err))
			rec.SharedNote = "not published: " + err.Error()
		} else {
			b.Log.Info("published the Pyxis build for the other nodes", zap.String("path", publish.Entry(key)))
			rec.Origin = "built here and published to " + publish.Entry(key)
		}
	}
	return b.install(data, rec)
}

// install puts the plugin into pyxis.libdir atomically (slurmd may dlopen
// it at any moment) and records it.
func (b *Builder) install(data []byte, rec Record) error {
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
	var err error
	if rec.PluginSHA256, err = pluginSum(b.Root.Path(plugin)); err != nil {
		return err
	}
	b.Log.Info("pyxis installed", zap.String("plugin", b.Root.Path(plugin)), zap.String("slurm", rec.SlurmVersion),
		zap.String("sha256", rec.PluginSHA256), zap.String("from", rec.Origin))
	return writeRecord(b.Root, b.StateDir, rec)
}

// compileInCache builds in a private directory of the cache, removed after.
func (b *Builder) compileInCache(ctx context.Context, sl slurm.Detected) ([]byte, error) {
	cache := b.Root.Path(b.CacheDir)
	if _, err := atomicfile.EnsureDir(cache, atomicfile.Options{Mode: 0o700, UID: -1, GID: -1}); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(cache, ".pyxis-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	staged, err := b.compile(ctx, dir, sl)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(staged)
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

// compilerVersion is the first line of `cc --version`, recorded with a
// shared build for whoever wonders how it was made ("" when cc says none).
func compilerVersion(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "cc", "--version").Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}
