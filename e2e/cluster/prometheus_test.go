package cluster

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/cluster"
)

// testPrometheus is scenario 8: Debian's real Prometheus scrapes every
// node's agent with the shipped alert rules (their `for:` shortened to 5s,
// everything else as shipped). Breaking one node fires the documented
// alert for that node only, read from Prometheus's HTTP API, and repairing
// it resolves it: a check the agent cannot repair (another user owns the
// job user's enroot directory) fires EnrootAgentCheckFailing; a stopped
// agent fires EnrootAgentDown.
func testPrometheus(t *testing.T, c *bed) {
	rules, err := cluster.RulesWithFor("5s")
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.StartPrometheus(rules)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	waitAlerts(t, p, "every node scraped and no alert", func(a []cluster.Alert) bool {
		up, err := p.Query(ctxFor(t, time.Minute), `up{job="enroot-agent"} == 1`)
		return err == nil && len(up) == len(c.Nodes()) && len(a) == 0
	})

	broken := c.Computes[1]
	dir := fmt.Sprintf("/run/enroot/user-%d", cluster.UserUID)
	if out, err := broken.Output(ctxFor(t, time.Minute), "install", "-d", "-o", "nobody", "-m", "0700", dir); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = broken.Output(ctxFor(t, time.Minute), "rm", "-rf", dir) })
	firing := waitAlerts(t, p, "EnrootAgentCheckFailing firing for "+broken.Name, func(a []cluster.Alert) bool {
		return has(a, "EnrootAgentCheckFailing", broken.Name, "firing", "enroot-user-dirs")
	})
	onlyFor(t, firing, broken.Name)
	if out, err := broken.Output(ctxFor(t, time.Minute), "rm", "-rf", dir); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	waitAlerts(t, p, "every alert resolved once "+broken.Name+" is repaired", func(a []cluster.Alert) bool { return len(a) == 0 })

	down := c.Computes[2]
	if out, err := down.Output(ctxFor(t, time.Minute), "systemctl", "stop", "enroot-agent"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	started := false
	t.Cleanup(func() {
		if !started {
			_, _ = down.Output(ctxFor(t, time.Minute), "systemctl", "start", "enroot-agent")
		}
	})
	firing = waitAlerts(t, p, "EnrootAgentDown firing for "+down.Name, func(a []cluster.Alert) bool {
		return has(a, "EnrootAgentDown", down.Name, "firing", "")
	})
	onlyFor(t, firing, down.Name)
	if out, err := down.Output(ctxFor(t, 3*time.Minute), "systemctl", "start", "enroot-agent"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	started = true
	waitAlerts(t, p, "every alert resolved once "+down.Name+"'s agent runs again", func(a []cluster.Alert) bool { return len(a) == 0 })
}

// waitAlerts polls Prometheus's active alerts until ok holds, and returns
// them.
func waitAlerts(t *testing.T, p *cluster.Prometheus, what string, ok func([]cluster.Alert) bool) []cluster.Alert {
	t.Helper()
	var alerts []cluster.Alert
	var err error
	deadline := time.Now().Add(4 * time.Minute)
	for time.Now().Before(deadline) {
		if alerts, err = p.Alerts(ctxFor(t, time.Minute)); err == nil && ok(alerts) {
			return alerts
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("Prometheus: not %s within 4m; active alerts %s (%v)\n%s", what, describe(alerts), err, p.Log())
	return nil
}

func has(alerts []cluster.Alert, name, instance, state, check string) bool {
	for _, a := range alerts {
		if a.Labels["alertname"] == name && a.Labels["instance"] == instance && a.State == state &&
			(check == "" || a.Labels["check"] == check) {
			return true
		}
	}
	return false
}

// onlyFor fails when an active alert is about another node than instance.
func onlyFor(t *testing.T, alerts []cluster.Alert, instance string) {
	t.Helper()
	for _, a := range alerts {
		if a.Labels["instance"] != instance {
			t.Errorf("an alert for another node than %s: %s", instance, describe(alerts))
			return
		}
	}
}

func describe(alerts []cluster.Alert) string {
	var s []string
	for _, a := range alerts {
		s = append(s, fmt.Sprintf("%s{instance=%s,check=%s}=%s", a.Labels["alertname"], a.Labels["instance"], a.Labels["check"], a.State))
	}
	sort.Strings(s)
	return "[" + strings.Join(s, " ") + "]"
}
