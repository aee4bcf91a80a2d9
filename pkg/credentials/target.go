package credentials

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/internal/userdb"
	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// target is one netrc file the agent keeps.
type target struct {
	path string // re-rooted
	opts atomicfile.Options
	// dir, when set, is a directory the agent owns and keeps too (the shared
	// enroot config dir). Otherwise a missing parent is created for the
	// file's owner, and an existing one is left alone.
	dir     *atomicfile.Options
	dirPath string
}

// CredentialsFile is the file every user's enroot reads under the installed
// enroot.conf: ${ENROOT_CONFIG_PATH}/.credentials. "" when disabled.
func CredentialsFile(c config.Credentials) string {
	if c.EnrootConfigPath == "" {
		return ""
	}
	return filepath.Join(c.EnrootConfigPath, ".credentials")
}

// targets resolves the config into files, looking up users and groups in
// the node's user database (NSS: a directory group or user works).
func targets(c config.Credentials, root config.Root) ([]target, error) {
	ctx, users := context.Background(), &userdb.DB{} // each lookup has its own deadline
	var out []target
	if c.EnrootConfigPath != "" {
		// Readable by all local users by default: each can already get the
		// same token from the instance role. A group narrows it; without one
		// the group is root's again, so removing credentials.group undoes it.
		file := atomicfile.Options{Mode: 0o644, UID: -1, GID: 0}
		dir := atomicfile.Options{Mode: 0o755, UID: -1, GID: 0}
		if c.Group != "" {
			gid, err := users.GID(ctx, c.Group)
			if err != nil {
				return nil, fmt.Errorf("credentials.group: %w", err)
			}
			file = atomicfile.Options{Mode: 0o640, UID: -1, GID: gid}
			dir = atomicfile.Options{Mode: 0o750, UID: -1, GID: gid}
		}
		out = append(out, target{path: root.Path(CredentialsFile(c)), opts: file, dir: &dir, dirPath: root.Path(c.EnrootConfigPath)})
	}
	for i, f := range c.Files {
		uid, err := users.UID(ctx, f.Owner)
		if err != nil {
			return nil, fmt.Errorf("credentials.files[%d].owner: %w", i, err)
		}
		gid, err := users.GID(ctx, f.Group)
		if err != nil {
			return nil, fmt.Errorf("credentials.files[%d].group: %w", i, err)
		}
		p := root.Path(f.Path)
		out = append(out, target{path: p, opts: atomicfile.Options{Mode: f.Mode.FileMode(), UID: uid, GID: gid}, dirPath: filepath.Dir(p)})
	}
	return out, nil
}

// write merges want into the target's netrc and replaces it atomically.
// It reports whether the file or its directory changed (content, mode or
// owner). With onlyMissing it adds the wanted entries whose host has none
// and changes no line already there (see Restore).
func (t target) write(want []Entry, owned func(Entry) bool, onlyMissing bool) (bool, error) {
	dirChanged, err := t.ensureDir()
	if err != nil {
		return false, err
	}
	cur, err := atomicfile.ReadFile(t.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	netrc := ParseNetrc(string(cur))
	if onlyMissing {
		want, owned = missing(netrc, want), func(Entry) bool { return false }
	}
	data := netrc.MergeOwned(want, owned).Render()
	if err := fitsReadBack(data, want); err != nil {
		return dirChanged, err
	}
	changed, err := atomicfile.Write(t.path, data, t.opts)
	return changed || dirChanged, err
}

// fitsReadBack refuses to write a file the agent would refuse to read back
// (atomicfile.MaxRead): it would lock itself out of its own file, unable to
// replace a token ever again. The agent's own lines always fit (at most
// config.MaxRegistryHosts lines of at most MaxLine bytes fill half the
// bound), so only lines someone else added can get it there; the file is
// then left as it is, and the error says what to remove.
func fitsReadBack(data []byte, want []Entry) error {
	if len(data) <= atomicfile.MaxRead {
		return nil
	}
	ours := 0
	for _, e := range want {
		ours += len(e.line())
	}
	return fmt.Errorf("with the agent's %d lines (%d bytes) the file would be %d bytes, over the %d bytes the agent reads back: not written, left as it is; "+
		"%d bytes of it are lines the agent does not own: remove some of them", len(want), ours, len(data), atomicfile.MaxRead, len(data)-ours)
}

func (t target) ensureDir() (bool, error) {
	if t.dir != nil {
		return atomicfile.EnsureDir(t.dirPath, *t.dir)
	}
	if _, err := os.Lstat(t.dirPath); !errors.Is(err, fs.ErrNotExist) {
		return false, nil // the admin's or user's directory: not ours to change
	}
	return atomicfile.EnsureDir(t.dirPath, atomicfile.Options{Mode: 0o700, UID: t.opts.UID, GID: t.opts.GID})
}

// isECRHost says which netrc entries the agent may remove when their
// registry leaves the config: only real ECR hosts.
func isECRHost(h string) bool { _, err := config.ParseRegistry(h); return err == nil }

// FilePerm is what one credentials file must look like besides its content.
type FilePerm struct {
	Path     string // re-rooted
	Mode     os.FileMode
	UID, GID int // -1: whoever runs the agent
}

// Perms lists every credentials file with the mode and owner the agent keeps,
// for verify: a shared file that users cannot read fails their pulls.
func Perms(c config.Credentials, root config.Root) ([]FilePerm, error) {
	ts, err := targets(c, root)
	out := make([]FilePerm, len(ts))
	for i, t := range ts {
		out[i] = FilePerm{Path: t.path, Mode: t.opts.Mode, UID: t.opts.UID, GID: t.opts.GID}
	}
	return out, err
}
