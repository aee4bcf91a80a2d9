package credentials

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/internal/userdb"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/credentials/netrc"
	"go.uber.org/zap"
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

// credentialsFile is the file every user's enroot reads under the installed
// enroot.conf: ${ENROOT_CONFIG_PATH}/.credentials. "" when disabled.
func credentialsFile(c config.Credentials) string {
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
		out = append(out, target{path: root.Path(credentialsFile(c)), opts: file, dir: &dir, dirPath: root.Path(c.EnrootConfigPath)})
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

// Files lists the credentials files the refresher keeps (re-rooted paths).
func (r *Refresher) Files() []string {
	out := make([]string, len(r.targets))
	for i, t := range r.targets {
		out[i] = t.path
	}
	return out
}

// write merges want into the target's netrc and replaces it atomically.
// It reports whether the file or its directory changed (content, mode or
// owner). With onlyMissing it adds the wanted entries whose host has none
// and changes no line already there (see Restore).
func (t target) write(want []netrc.Entry, owned func(netrc.Entry) bool, onlyMissing bool) (bool, error) {
	dirChanged, err := t.ensureDir()
	if err != nil {
		return false, err
	}
	cur, err := atomicfile.ReadFile(t.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	n := netrc.Parse(string(cur))
	if onlyMissing {
		want, owned = missing(n, want), func(netrc.Entry) bool { return false }
	}
	data := n.Merge(want, owned).Render()
	if err := fitsReadBack(data, want); err != nil {
		return dirChanged, err
	}
	changed, err := atomicfile.Write(t.path, data, t.opts)
	return changed || dirChanged, err
}

// fitsReadBack refuses to write a file the agent would refuse to read back
// (atomicfile.MaxRead): it would lock itself out of its own file, unable to
// replace a token ever again. The agent's own lines always fit (at most
// config.MaxRegistryHosts lines of at most netrc.MaxLine bytes fill half the
// bound), so only lines someone else added can get it there; the file is
// then left as it is, and the error says what to remove.
func fitsReadBack(data []byte, want []netrc.Entry) error {
	if len(data) <= atomicfile.MaxRead {
		return nil
	}
	ours := 0
	for _, e := range want {
		ours += len(e.Line())
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

// filePerm is what one credentials file must look like besides its content.
type filePerm struct {
	Path     string // re-rooted
	Mode     os.FileMode
	UID, GID int // -1: whoever runs the agent
}

// perms lists every credentials file with the mode and owner the agent keeps,
// for verify: a shared file that users cannot read fails their pulls.
func perms(c config.Credentials, root config.Root) ([]filePerm, error) {
	ts, err := targets(c, root)
	out := make([]filePerm, len(ts))
	for i, t := range ts {
		out[i] = filePerm{Path: t.path, Mode: t.opts.Mode, UID: t.opts.UID, GID: t.opts.GID}
	}
	return out, err
}

// entries are the netrc lines every target should hold, in config order.
func (r *Refresher) entries() []netrc.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []netrc.Entry
	for _, h := range r.hosts() {
		if tok, ok := r.held[h]; ok {
			out = append(out, netrc.Entry{Host: h, Login: tok.login(), Password: tok.Password})
		}
	}
	return out
}

// Restore puts back what was lost from the credentials files since the
// last write, from the tokens held, without asking ECR or a secrets store:
// a deleted file, a registry's missing line, a changed mode, owner or
// group. It changes no line that is there: a token another process (apply,
// refresh) wrote is newer than the one held, and is adopted instead when
// the recorded status vouches for it. An expired token is never written
// back. It returns the files it changed. The daemon calls it before each
// look at the checks, so the one file every job needs never waits for a
// converge or a refresh.
func (r *Refresher) Restore() ([]string, error) {
	r.resume()
	r.adopt()
	r.expire(r.now(), nil)
	changed, errs := r.writeFiles(true)
	// The status must vouch for the tokens just written back. A refresh in
	// flight records it itself when it ends, and a second writer of the
	// status could put an older snapshot last.
	if len(changed) > 0 && r.run.TryLock() {
		r.mu.Lock()
		r.noteHeld()
		r.mu.Unlock()
		r.persist()
		r.run.Unlock()
	}
	return changed, errors.Join(errs...)
}

// missing keeps the wanted entries whose host has no entry in n.
func missing(n *netrc.Netrc, want []netrc.Entry) []netrc.Entry {
	var out []netrc.Entry
	for _, e := range want {
		if _, ok := n.Lookup(e.Host); !ok {
			out = append(out, e)
		}
	}
	return out
}

func (r *Refresher) writeTargets() []error {
	_, errs := r.writeFiles(false)
	return errs
}

// writeFiles writes every target under r.write, so a Restore and a refresh
// never interleave and the last writer holds the newest tokens. Each file
// whose mode, owner or group changed, or that had to be created, is logged
// with what was different, by apply and the daemon alike.
func (r *Refresher) writeFiles(onlyMissing bool) (changed []string, errs []error) {
	r.write.Lock()
	defer r.write.Unlock()
	want := r.entries()
	for _, t := range r.targets {
		before := statFile(t.path)
		dirBefore := statFile(t.dirPath)
		did, err := t.write(want, r.owns, onlyMissing)
		if err != nil {
			r.log.Error("cannot write credentials file", zap.String("path", t.path), zap.Error(err))
			errs = append(errs, fmt.Errorf("write %s: %w", t.path, err))
			continue
		}
		if !did {
			r.log.Debug("credentials file kept", zap.String("path", t.path), zap.Int("entries", len(want)))
			continue
		}
		changed = append(changed, t.path)
		r.mu.Lock()
		r.rewritten = append(r.rewritten, t.path)
		r.mu.Unlock()
		diffs := fileChanges("", before, statFile(t.path))
		if t.dir != nil {
			diffs = append(diffs, fileChanges("directory ", dirBefore, statFile(t.dirPath))...)
		}
		if len(diffs) == 0 {
			r.log.Debug("credentials file rewritten", zap.String("path", t.path), zap.Int("entries", len(want)))
			continue
		}
		r.log.Info("credentials file changed", zap.String("path", t.path), zap.String("changes", strings.Join(diffs, ", ")), zap.Int("entries", len(want)))
	}
	return changed, errs
}

// fileFacts is what the log says about a file besides its content.
type fileFacts struct {
	exists   bool
	mode     fs.FileMode
	uid, gid uint32
}

func statFile(path string) fileFacts {
	fi, err := os.Lstat(path)
	if err != nil {
		return fileFacts{}
	}
	f := fileFacts{exists: true, mode: fi.Mode().Perm()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		f.uid, f.gid = st.Uid, st.Gid
	}
	return f
}

// fileChanges lists how after differs from before: "created", "mode 0600 ->
// 0644", "group 0 -> 1001"; nothing when only the content changed.
func fileChanges(what string, before, after fileFacts) []string {
	switch {
	case !after.exists:
		return nil
	case !before.exists:
		return []string{what + "created (it was missing)"}
	}
	var out []string
	if before.mode != after.mode {
		out = append(out, fmt.Sprintf("%smode %04o -> %04o", what, before.mode, after.mode))
	}
	if before.uid != after.uid {
		out = append(out, fmt.Sprintf("%sowner %d -> %d", what, before.uid, after.uid))
	}
	if before.gid != after.gid {
		out = append(out, fmt.Sprintf("%sgroup %d -> %d", what, before.gid, after.gid))
	}
	return out
}

// Rewritten lists the credentials files (or their directories) whose
// content, mode or owner the refresher changed since it was made: apply
// reports them as changed even when no token was due.
func (r *Refresher) Rewritten() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Compact(slices.Clone(r.rewritten))
}

// resume takes back the tokens an earlier process wrote, once: a token is
// adopted only when the recorded status vouches for it (same fingerprint)
// and it has not expired. Without this, a restart during an ECR outage
// would remove tokens that are still good.
func (r *Refresher) resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.resumed || len(r.targets) == 0 {
		return
	}
	r.resumed = true
	st, n, err := r.recorded()
	if err != nil {
		r.log.Debug("no earlier refresh to resume", zap.Error(err))
		return
	}
	for host, tok := range vouched(st, n, r.now()) {
		r.held[host] = tok
		r.log.Debug("resumed token", zap.String("registry", host), zap.Time("expires_at", tok.ExpiresAt), zap.String("fingerprint", tok.Password.Fingerprint()))
	}
	st.Registries = nil
	r.status, r.failures = st, st.ConsecutiveFailures
}

// adopt takes the tokens another process (apply, refresh) wrote since, the
// way resume does, when they outlive the ones held.
func (r *Refresher) adopt() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.targets) == 0 {
		return
	}
	st, n, err := r.recorded()
	if err != nil {
		return
	}
	for host, tok := range vouched(st, n, r.now()) {
		if held, ok := r.held[host]; !ok || tok.ExpiresAt.After(held.ExpiresAt) {
			r.held[host] = tok
			r.log.Info("adopted the token another run of the agent wrote", zap.String("registry", host),
				zap.Time("expires_at", tok.ExpiresAt), zap.String("fingerprint", tok.Password.Fingerprint()))
		}
	}
}

// recorded reads the recorded status and the first credentials file.
// Callers hold r.mu.
func (r *Refresher) recorded() (Status, *netrc.Netrc, error) {
	st, err := readStatus(r.statePath)
	if err != nil {
		return st, nil, err
	}
	data, err := atomicfile.ReadFile(r.targets[0].path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			r.log.Warn("cannot read the credentials file to resume from it", zap.Error(err))
		}
		return st, nil, err
	}
	return st, netrc.Parse(string(data)), nil
}

// vouched are the file's tokens the status vouches for (same fingerprint)
// that have not expired, by host.
func vouched(st Status, n *netrc.Netrc, now time.Time) map[string]Token {
	out := map[string]Token{}
	for _, rs := range st.Registries {
		e, ok := n.Lookup(rs.Host)
		if !ok || rs.Fingerprint == "" || e.Password.Fingerprint() != rs.Fingerprint || !rs.ExpiresAt.After(now) {
			continue
		}
		out[rs.Host] = Token{Login: e.Login, Password: e.Password, ExpiresAt: rs.ExpiresAt}
	}
	return out
}
