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
	"github.com/enroot-agent/enroot-agent/internal/userdb"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/credentials/netrc"
	"github.com/enroot-agent/enroot-agent/pkg/credentials/probe"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// Checks look at whether every user's jobs can authenticate to every
// registry: each credentials file holds, for each registry, the token the
// agent issued, with at least verify.token_margin of life left; the last
// refresh succeeded; and, with verify.probe_registries, the registry
// accepts the token. They read the status the refresher recorded. probes,
// when not nil, keeps the stages of the latest registry probe for
// the metrics (the daemon holds one for its life; verify passes nil).
func Checks(cfg config.Config, root config.Root, probes *probe.Record) []verify.Check {
	return checker{Config: cfg, Root: root, Probes: probes}.checks()
}

type checker struct {
	Config config.Config
	Root   config.Root
	Probes *probe.Record
	// Now and Transport are seams; nil means time.Now and the probe's
	// default transport (the node's proxy and CAs).
	Now       func() time.Time
	Transport http.RoundTripper
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
	return readStatus(statusPath(c.Config, c.Root))
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
	if p := credentialsFile(c.Config.Credentials); p != "" {
		out = append(out, [2]string{p, c.Root.Path(p)})
	}
	for _, f := range c.Config.Credentials.Files {
		out = append(out, [2]string{f.Path, c.Root.Path(f.Path)})
	}
	return out
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
	return append(hosts, servedHosts(c.Config)...)
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
		n := netrc.Parse(string(data))
		for _, h := range hosts {
			if p := c.tokenProblem(n, known[h], h); p != "" {
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
	want, err := perms(c.Config.Credentials, c.Root)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for i, p := range want {
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

func owner(p filePerm) string {
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
func (c checker) tokenProblem(n *netrc.Netrc, rs RegistryStatus, host string) string {
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

// probe pulls as enroot would, from each registry with the credentials of
// the first file: login, then for each verify.probe_images entry of that
// registry the manifest and the first bytes of one layer. Each stage is
// reported, and kept in c.Probes for the metrics.
func (c checker) probe(ctx context.Context) verify.Result {
	files := c.files()
	if len(files) == 0 {
		return verify.Unknownf("set enroot_config_path or files", "no credentials file to probe with")
	}
	data, err := atomicfile.ReadFile(files[0][1])
	if err != nil {
		return verify.Failf(refreshFix, "%s: %v", files[0][0], unwrapPath(err))
	}
	s, _ := c.status()
	n := netrc.Parse(string(data))
	p := probe.Prober{Transport: c.Transport, LoginFix: refreshFix}
	var stages []probe.Stage
	for _, h := range c.registries(s) {
		e, ok := n.Lookup(h)
		if !ok {
			stages = append(stages, probe.Stage{Registry: h, Name: "login", Err: "no entry to probe with", Fix: refreshFix})
			continue
		}
		stages = append(stages, c.probeHost(ctx, p, h, e)...)
	}
	c.Probes.Set(stages)
	return probe.Result(stages)
}

// probeHost probes one registry: login alone, or the three stages for each
// test image of that registry.
func (c checker) probeHost(ctx context.Context, p probe.Prober, host string, e netrc.Entry) []probe.Stage {
	var out []probe.Stage
	for _, img := range c.Config.Verify.ProbeImages {
		if h, repo, ref, _ := config.ParseImage(img); h == host {
			out = append(out, p.Pull(ctx, host, e, repo, ref)...)
		}
	}
	if out == nil {
		out = p.Pull(ctx, host, e, "", "")
	}
	return out
}

// readers says who can read the shared credentials file. A user outside
// credentials.group sees only enroot's "Authenticating with user:
// <anonymous>" and a failed import, so verify states the scope plainly,
// with the group as the node's user database (NSS) resolves it: a group
// that resolves to nothing is why no file is written at all.
func (c checker) readers(ctx context.Context) verify.Result {
	cr := c.Config.Credentials
	file := credentialsFile(cr)
	switch {
	case file == "":
		return verify.Ok("no shared credentials file (credentials.enroot_config_path is empty): each user's enroot reads only their own")
	case cr.Group == "":
		return verify.Ok(fmt.Sprintf("every local user's enroot reads %s (0644 root:root)", file))
	}
	gid, err := (&userdb.DB{}).GID(ctx, cr.Group)
	switch {
	case errors.Is(err, userdb.ErrNotFound):
		return verify.Failf("create the group in the node's user database (getent group "+cr.Group+" must answer: /etc/group, or the directory service through SSSD), or fix credentials.group",
			"credentials.group %s is unknown on this node, so no credentials file is written for anyone", cr.Group)
	case err != nil:
		return verify.Unknownf("check the directory service (sssd) on this node", "cannot resolve credentials.group: %v", err)
	}
	return verify.Ok(fmt.Sprintf("only root and members of group %s (gid %d) read %s (0640); other users' enroot pulls anonymously and fails on a private registry (\"Authenticating with user: <anonymous>\")",
		cr.Group, gid, file))
}
