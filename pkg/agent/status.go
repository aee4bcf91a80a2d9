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
	EnrootVersion string // "" when enroot is not managed
	PyxisVersion  string
	FailedSteps   []failedStep
	NextRetry     time.Time
	CredsErr      string              // the refresher could not be built
	Creds         *credentials.Status // nil: no refresher
	FailingCheck  string              // the root cause among the checks, "" when all ok
	CheckStatus   verify.Status       // the checks' overall status, as /verify answers
	ReloadErr     time.Time           // when a reload was last rejected
	Images        *images.Snapshot    // nil: images.cache off
}

type failedStep struct {
	Name  string
	Since time.Time
}

// statusLine is the one human line systemctl status shows, e.g.
//
//	ready: enroot 4.1.2, pyxis 0.24.0; ECR 2 registries, token valid until 21:04Z, next refresh 15:11Z
//	degraded: ECR refresh failing since 09:12Z (throttled), token valid until 13:40Z
//	ready: enroot 4.1.2; ECR 1 registry, token valid until 21:04Z; images: 3 cached, 2.1 GiB
func statusLine(v statusView) string {
	var problems, facts []string
	for _, f := range v.FailedSteps {
		problems = append(problems, fmt.Sprintf("step %s failing since %s", f.Name, hm(f.Since)))
	}
	if len(v.FailedSteps) > 0 && !v.NextRetry.IsZero() {
		problems[len(problems)-1] += " (retry " + hm(v.NextRetry) + ")"
	}
	if v.FailingCheck != "" {
		word := "failing"
		if v.CheckStatus == verify.Unknown {
			word = "cannot tell"
		}
		problems = append(problems, "check "+v.FailingCheck+" "+word)
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
