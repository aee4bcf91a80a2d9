package credentials

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// Checks look at whether every user's jobs can authenticate to every
// registry: each credentials file holds, for each registry, the token the
// agent issued, with at least verify.token_margin of life left; the last
// refresh succeeded; and, with verify.probe_registries, the registry
// accepts the token. They read the status the refresher recorded.
func Checks(cfg config.Config, root config.Root) []verify.Check {
	return checker{Config: cfg, Root: root}.checks()
}

type checker struct {
	Config config.Config
	Root   config.Root
	// Now and Client are seams; nil means time.Now and a 10s HTTP client.
	Now    func() time.Time
	Client *http.Client
}

const refreshFix = "run `enroot-agent refresh` and read its error; check the instance role allows ecr:GetAuthorizationToken and the node reaches the ECR endpoint (journalctl -u enroot-agent)"

func (c checker) checks() []verify.Check {
	checks := []verify.Check{
		verify.Func{CheckName: "credentials-refresh", Fn: c.refresh},
		verify.Func{CheckName: "credentials-tokens", Fn: c.tokens},
	}
	if c.Config.Verify.ProbeRegistries {
		checks = append(checks, verify.Func{CheckName: "credentials-probe", Fn: c.probe})
	}
	return append(checks, verify.Func{CheckName: "credentials-readers", Fn: c.readers})
}

func (c checker) status() (Status, error) {
	return ReadStatus(StatusPath(c.Config, c.Root))
}

func (c checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c checker) refresh(context.Context) verify.Result {
	s, err := c.status()
	switch {
	case err != nil:
		return verify.Failf("run `enroot-agent refresh` (the daemon refreshes at start)", "%v", err)
	case s.LastAttempt.IsZero():
		return verify.Failf("run `enroot-agent refresh`", "no refresh has run yet")
	case s.LastError != "":
		return verify.Failf(refreshFix, "refreshes failing since %s (%d failures): %s", stamp(s.FailingSince), s.ConsecutiveFailures, s.LastError)
	}
	msg := "last refresh " + stamp(s.LastSuccess) + " succeeded"
	if !s.NextRefresh.IsZero() {
		msg += "; next " + stamp(s.NextRefresh)
	}
	return verify.Ok(msg)
}

// files are the credentials files to look at, host path and re-rooted path.
func (c checker) files() [][2]string {
	var out [][2]string
	if p := CredentialsFile(c.Config.Credentials); p != "" {
		out = append(out, [2]string{p, c.Root.Path(p)})
	}
	for _, f := range c.Config.Credentials.Files {
		out = append(out, [2]string{f.Path, c.Root.Path(f.Path)})
	}
	return out
}

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

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// unwrapPath drops the re-rooted path from an error; the host path is shown.
func unwrapPath(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}
