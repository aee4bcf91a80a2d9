package agent

import (
	"fmt"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/credentials"
	"github.com/enroot-agent/enroot-agent/pkg/images"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// statusView is everything the STATUS= line says, gathered by the loop.
type statusView struct {
	Now           time.Time
	Phase         string // "starting: ..." or "reloading: ..." while not ready; "" once ready
	Repairing     bool   // a repair a failing check started runs
	EnrootVersion string // "" when enroot is not managed
	PyxisVersion  string
	CredsErr      string              // the refresher could not be built
	Creds         *credentials.Status // nil: no refresher
	FailingCheck  string              // the newest report's root cause, "" when all ok
	FailingSince  time.Time           // when that check stopped being ok
	NextRetry     time.Time           // when the daemon converges again on its own; zero: not planned
	CheckStatus   verify.Status       // the checks' overall status, as /verify answers
	ReloadErr     time.Time           // when a reload was last rejected
	Images        *images.Snapshot    // nil: images.cache off
}

// statusLine is the one human line systemctl status shows, e.g.
//
//	ready: enroot 4.1.2, pyxis 0.24.0; ECR 2 registries, token valid until 21:04Z, next refresh 15:11Z
//	degraded: check pyxis-plugin failing since 09:12Z (retry 09:20Z); ECR 1 registry, ...
//	repairing: check step enroot-conf failing since 09:12Z
//
// A failing check is named as the drain reason names it: the root cause of
// the report /verify serves.
func statusLine(v statusView) string {
	var problems, facts []string
	cause := ""
	if v.FailingCheck != "" {
		word := "failing"
		if v.CheckStatus == verify.Unknown {
			word = "cannot tell"
		}
		cause = "check " + v.FailingCheck + " " + word
		if !v.FailingSince.IsZero() {
			cause += " since " + hm(v.FailingSince)
		}
		if !v.NextRetry.IsZero() && !v.Repairing {
			cause += " (retry " + hm(v.NextRetry) + ")"
		}
		if !v.Repairing {
			problems = append(problems, cause)
		}
	}
	ecr, ecrBad := ecrText(v)
	if ecrBad {
		problems = append(problems, ecr)
	} else if ecr != "" {
		facts = append(facts, ecr)
	}
	if v.Images != nil {
		facts = append(facts, fmt.Sprintf("images: %d cached, %s", v.Images.CachedImages, size(v.Images.CacheBytes)))
	}
	if !v.ReloadErr.IsZero() {
		problems = append(problems, "config reload rejected at "+hm(v.ReloadErr)+", old config kept (see journal)")
	}
	switch {
	case v.Phase != "":
		return strings.Join(append([]string{v.Phase}, problems...), "; ")
	case v.Repairing:
		return strings.Join(append([]string{"repairing: " + cause}, problems...), "; ")
	case len(problems) > 0:
		return "degraded: " + strings.Join(append(problems, facts...), "; ")
	}
	return "ready: " + strings.Join(append([]string{versions(v)}, facts...), "; ")
}

func versions(v statusView) string {
	var parts []string
	if v.EnrootVersion != "" {
		parts = append(parts, "enroot "+v.EnrootVersion)
	}
	if v.PyxisVersion != "" {
		parts = append(parts, "pyxis "+v.PyxisVersion)
	}
	if len(parts) == 0 {
		return "node converged"
	}
	return strings.Join(parts, ", ")
}

// ecrText describes the credentials; bad is true when they need attention.
func ecrText(v statusView) (text string, bad bool) {
	switch {
	case v.CredsErr != "":
		return "ECR credentials not kept: " + v.CredsErr, true
	case v.Creds == nil:
		return "", false
	case v.Creds.LastAttempt.IsZero() && len(v.Creds.Registries) == 0:
		return "ECR not refreshed yet", v.Phase == ""
	}
	s := v.Creds
	valid := tokenText(s, v.Now)
	if !s.FailingSince.IsZero() {
		return fmt.Sprintf("ECR refresh failing since %s (%s), %s", hm(s.FailingSince), shortReason(s.LastError), valid), true
	}
	text = fmt.Sprintf("ECR %d %s, %s", len(s.Registries), plural(len(s.Registries), "registry", "registries"), valid)
	if !s.NextRefresh.IsZero() {
		text += ", next refresh " + hm(s.NextRefresh)
	}
	return text, strings.HasPrefix(valid, "no valid")
}

// tokenText gives the earliest expiry: the one that fails a job first.
func tokenText(s *credentials.Status, now time.Time) string {
	var first time.Time
	for _, r := range s.Registries {
		if r.ExpiresAt.IsZero() || !r.ExpiresAt.After(now) {
			return "no valid token for " + r.Host
		}
		if first.IsZero() || r.ExpiresAt.Before(first) {
			first = r.ExpiresAt
		}
	}
	if first.IsZero() {
		return "no valid token"
	}
	return "token valid until " + hm(first)
}

// shortReason keeps STATUS= to one readable line.
func shortReason(err string) string {
	switch {
	case err == "":
		return "no detail"
	case strings.Contains(err, "Throttling"), strings.Contains(err, "Rate exceeded"):
		return "throttled"
	case strings.Contains(err, "context deadline exceeded"), strings.Contains(err, "timeout"):
		return "timed out"
	case strings.Contains(err, "AccessDenied"), strings.Contains(err, "not authorized"):
		return "access denied"
	}
	line, _, _ := strings.Cut(err, "\n")
	if len(line) > 60 {
		return line[:57] + "..."
	}
	return line
}

func hm(t time.Time) string { return t.UTC().Format("15:04Z") }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// size is n bytes in the largest binary unit that keeps it >= 1.
func size(n int64) string {
	if n < 1<<10 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n)/(1<<10), "KiB"
	for _, u := range []string{"MiB", "GiB", "TiB"} {
		if v < 1<<10 {
			break
		}
		v, unit = v/(1<<10), u
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}
