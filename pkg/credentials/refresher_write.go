package credentials

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"

	"go.uber.org/zap"
)

// entries are the netrc lines every target should hold, in config order.
func (r *Refresher) entries() []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Entry
	for _, h := range r.hosts() {
		if tok, ok := r.held[h]; ok {
			out = append(out, Entry{Host: h, Login: tok.login(), Password: tok.Password})
		}
	}
	return out
}

// hosts are the registries in config order or, while this node's own
// registry is not yet discovered in this process, those with a resumed
// token: a restart while IMDS is unreachable must not drop a good token.
// Callers hold r.mu.
func (r *Refresher) hosts() []string {
	var out []string
	for _, g := range r.regs {
		out = append(out, g.Host)
	}
	others := otherHosts(r.cfg)
	if len(out) == 0 {
		for h := range r.held {
			if !slices.Contains(others, h) {
				out = append(out, h)
			}
		}
		slices.Sort(out)
	}
	return append(out, others...)
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
	r.expire(r.Now(), nil)
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
func missing(n *Netrc, want []Entry) []Entry {
	var out []Entry
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
