package prometheus_test

import (
	"os/exec"
	"testing"
)

// The alert rules parse, and promtool's unit tests (synthetic series for
// each alert, firing and not firing) pass. promtool comes from Debian's
// prometheus package (scripts/test-deps.sh); without it this fails.
func TestAlertRules(t *testing.T) {
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Fatal("promtool not found: install the Debian package prometheus (scripts/test-deps.sh)")
	}
	for _, args := range [][]string{
		{"check", "rules", "enroot-agent.rules.yml"},
		{"test", "rules", "enroot-agent.rules.test.yml"},
	} {
		out, err := exec.Command("promtool", args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
