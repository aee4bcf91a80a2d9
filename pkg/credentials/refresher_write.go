package credentials

import (
	"fmt"
	"slices"

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

func (r *Refresher) writeTargets() []error {
	want := r.entries()
	var errs []error
	for _, t := range r.targets {
		changed, err := t.write(want, r.owns)
		if err != nil {
			r.log.Error("cannot write credentials file", zap.String("path", t.path), zap.Error(err))
			errs = append(errs, fmt.Errorf("write %s: %w", t.path, err))
			continue
		}
		if changed {
			r.mu.Lock()
			r.rewritten = append(r.rewritten, t.path)
			r.mu.Unlock()
		}
		r.log.Debug("credentials file kept", zap.String("path", t.path), zap.Bool("changed", changed), zap.Int("entries", len(want)))
	}
	return errs
}

// Rewritten lists the credentials files (or their directories) whose
// content, mode or owner the refresher changed since it was made: apply
// reports them as changed even when no token was due.
func (r *Refresher) Rewritten() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Compact(slices.Clone(r.rewritten))
}
