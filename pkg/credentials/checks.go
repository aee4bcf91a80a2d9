package credentials

import (
	"context"
	"errors"
	"net/http"
	"time"

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
