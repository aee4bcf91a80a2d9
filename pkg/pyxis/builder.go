package pyxis

import (
	"context"
	"fmt"
	"path/filepath"

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
