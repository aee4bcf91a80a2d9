package pyxis

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// CheckShared is the check's name: it reports the shared build for this
// node's key as it is now.
const CheckShared = "pyxis-shared-build"

// sharedCheck looks at pyxis.shared_dir the way a node that needs a build
// would: unknown (an advisory: this node's own plugin is unaffected, and
// pyxis-plugin says so) when the directory is not root's alone or the
// build for this node's key does not verify, so every node needing it
// compiles its own and the admin should find out who changed it; ok
// otherwise. It reads the record and stats the plugin; the plugin's sha256
// is checked by every copy.
func sharedCheck(ctx context.Context, cfg config.Config, root config.Root, detector *slurm.Detector) verify.Result {
	s := NewShared(cfg.Pyxis, root, nil)
	sl, err := detector.Detect(ctx, root, cfg.Pyxis.SlurmPrefix)
	if err != nil {
		return verify.Unknownf("check slurm_prefix", "%v", err)
	}
	key := Key(cfg.Pyxis, root, sl)
	srec, err := s.Look(key)
	var ref *RefusedError
	switch {
	case errors.Is(err, errSharedOff):
		return verify.Ok(fmt.Sprintf("%s does not exist: no shared filesystem there, so every node builds its own Pyxis", filepath.Dir(s.Dir)))
	case errors.As(err, &ref) && ref.Untrusted:
		return verify.Unknownf(fmt.Sprintf("make every directory above %s root's and writable by root alone (chown root:root, chmod go-w), "+
			"or set pyxis.shared_dir to a directory that is (\"\" turns sharing off)", s.Dir), "%v; every node builds its own Pyxis", err)
	case errors.As(err, &ref):
		return verify.Unknownf(fmt.Sprintf("remove %s (rm -r, as root on a node that can write it; the next node that needs it builds it again) "+
			"and find out who changed it", s.Entry(key)), "the shared build does not verify: %v; nodes that need it build their own", err)
	case errors.Is(err, errNoBuild):
		return verify.Ok(fmt.Sprintf("no shared build %s yet (Slurm %s, %s, %s): the first node that needs one builds it there", key.Name(), key.SlurmRelease, key.Arch, key.OS))
	case err != nil:
		return verify.Unknownf("", "cannot read the shared build: %v", err)
	}
	msg := fmt.Sprintf("%s holds Pyxis %s for Slurm %s (%s, %s), built by %s", s.Entry(key), key.PyxisVersion, key.SlurmRelease, key.Arch, key.OS, srec.BuiltBy)
	if rec, err := ReadRecord(root, cfg.StateDir); err == nil && rec.PluginSHA256 != "" {
		if rec.PluginSHA256 == srec.PluginSHA256 {
			msg += "; this node's plugin is that build"
		} else {
			msg += "; this node's plugin is another build (" + rec.Origin + ")"
		}
	}
	return verify.Ok(msg)
}
