package cluster

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
)

// testSystemdStatus is scenario 2: what an admin reads on any node.
// `systemctl status enroot-agent` shows the unit active with the agent's
// STATUS sentence, and `journalctl -u enroot-agent` has its log, with no
// token in either.
func testSystemdStatus(t *testing.T, c *bed) {
	status := regexp.MustCompile(`(?m)^\s+Status: "ready: enroot ` + regexp.QuoteMeta(pkgrepo.RealEnrootVersion) +
		`, pyxis ` + regexp.QuoteMeta(pkgrepo.RealPyxisVersion) + `; ECR 1 registry, token valid until \d\d:\d\dZ, next refresh \d\d:\d\dZ"$`)
	for _, n := range c.Nodes() {
		out, err := n.Output(ctxFor(t, time.Minute), "systemctl", "status", "--no-pager", "enroot-agent")
		if err != nil {
			t.Errorf("%s: systemctl status enroot-agent: %v\n%s", n.Name, err, out)
			continue
		}
		if !strings.Contains(out, "Active: active (running)") || !status.MatchString(out) {
			t.Errorf("%s: systemctl status lacks active (running) or %s:\n%s", n.Name, status, out)
		}
		log := n.Journal(ctxFor(t, time.Minute), "enroot-agent.service")
		for _, want := range []string{"step done", "token refreshed", "ready"} {
			if !strings.Contains(log, want) {
				t.Errorf("%s: journalctl -u enroot-agent lacks %q:\n%s", n.Name, want, c.Services.Redact(log))
			}
		}
		if c.Services.Redact(out+log) != out+log {
			t.Errorf("%s: a token appears in systemctl status or the journal", n.Name)
		}
	}
}
