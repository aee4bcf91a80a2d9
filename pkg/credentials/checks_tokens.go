package credentials

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// registries are the configured hosts, with the node's own registry from
// the last refresh when ecr.registries is empty.
func (c checker) registries(s Status) []string {
	var hosts []string
	if len(c.Config.ECR.Registries) == 0 {
		others := otherHosts(c.Config)
		for _, r := range s.Registries {
			if !slices.Contains(others, r.Host) {
				hosts = append(hosts, r.Host)
			}
		}
	}
	return append(hosts, ServedHosts(c.Config)...)
}

func (c checker) tokens(context.Context) verify.Result {
	s, err := c.status()
	if err != nil {
		return verify.Unknownf("run `enroot-agent refresh`", "cannot tell the tokens' expiry: %v", err)
	}
	hosts := c.registries(s)
	if len(hosts) == 0 {
		return verify.Failf(refreshFix, "no registry known: ecr.registries is empty and no refresh found this node's registry")
	}
	known := map[string]RegistryStatus{}
	for _, r := range s.Registries {
		known[r.Host] = r
	}
	problems := c.permProblems()
	for _, f := range c.files() {
		data, err := atomicfile.ReadFile(f[1])
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", f[0], unwrapPath(err)))
			continue
		}
		netrc := ParseNetrc(string(data))
		for _, h := range hosts {
			if p := c.tokenProblem(netrc, known[h], h); p != "" {
				problems = append(problems, f[0]+": "+p)
			}
		}
	}
	if len(problems) > 0 {
		return verify.Failf(refreshFix, "%s", strings.Join(problems, "; "))
	}
	return verify.Ok(fmt.Sprintf("%d registr%s with a token valid for more than %s in %d file(s)",
		len(hosts), plural(len(hosts), "y", "ies"), c.Config.Verify.TokenMargin, len(c.files())))
}

// permProblems compares each file's mode and owner with what the agent
// keeps: a shared file users cannot read fails every user's pull.
func (c checker) permProblems() []string {
	perms, err := Perms(c.Config.Credentials, c.Root)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for i, p := range perms {
		var st syscall.Stat_t
		if err := syscall.Lstat(p.Path, &st); err != nil {
			continue // reported when the file is read
		}
		mode := os.FileMode(st.Mode & 0o7777)
		if mode != p.Mode.Perm() || p.UID != -1 && int(st.Uid) != p.UID || p.GID != -1 && int(st.Gid) != p.GID {
			out = append(out, fmt.Sprintf("%s: mode %04o uid %d gid %d, want mode %04o%s", c.files()[i][0], mode, st.Uid, st.Gid, p.Mode.Perm(), owner(p)))
		}
	}
	return out
}

func owner(p FilePerm) string {
	s := ""
	if p.UID != -1 {
		s += fmt.Sprintf(" uid %d", p.UID)
	}
	if p.GID != -1 {
		s += fmt.Sprintf(" gid %d", p.GID)
	}
	return s
}

// tokenProblem says what is wrong with host's entry, or "".
func (c checker) tokenProblem(n *Netrc, rs RegistryStatus, host string) string {
	e, ok := n.Lookup(host)
	switch {
	case !ok:
		return "no entry for " + host + " (enroot finds no credentials and the pull fails)"
	case rs.Fingerprint == "" || e.Password.Fingerprint() != rs.Fingerprint:
		return fmt.Sprintf("the token for %s (%s) is not the one the agent last issued, so its expiry is unknown", host, e.Password.Fingerprint())
	}
	left := rs.ExpiresAt.Sub(c.now())
	switch {
	case left <= 0:
		return fmt.Sprintf("the token for %s expired at %s", host, stamp(rs.ExpiresAt))
	case left < c.Config.Verify.TokenMargin.D():
		return fmt.Sprintf("the token for %s expires in %s, less than verify.token_margin %s", host, left.Round(time.Second), c.Config.Verify.TokenMargin)
	}
	return ""
}
