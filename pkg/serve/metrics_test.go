package serve

import (
	"context"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/credentials"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// Every enroot_agent_* series the shipped alert rules read is one the agent
// exports: a renamed metric would otherwise silence an alert for good.
func TestAlertRulesReadExportedMetrics(t *testing.T) {
	rules, err := os.ReadFile("../../packaging/prometheus/enroot-agent.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	check := verify.Func{CheckName: "c", Fn: func(context.Context) verify.Result { return verify.Failf("fix", "broken") }}
	cache := verify.NewCache([]verify.Check{check}, time.Minute, time.Second, "n1")
	if _, err := cache.Get(context.Background()); err != nil {
		t.Fatal(err)
	}
	creds := func() (credentials.Status, bool) {
		return credentials.Status{Registries: []credentials.RegistryStatus{{Host: "r", ExpiresAt: time.Now()}}}, true
	}
	m := NewMetrics("test", Sources{Checks: cache, Creds: creds, Drained: func() bool { return true }})
	m.ObserveRepair("enroot-conf")
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range families {
		exported[f.GetName()] = true
		if f.GetName() == "enroot_agent_converge_repairs_total" && f.Metric[0].GetCounter().GetValue() != 1 {
			t.Errorf("repairs_total: %v", f.Metric)
		}
	}
	names := regexp.MustCompile(`enroot_agent_[a-z_]+`).FindAllString(string(rules), -1)
	if len(names) < 6 {
		t.Fatalf("the rules name only %v", names)
	}
	for _, n := range names {
		if !exported[n] {
			t.Errorf("the alert rules read %s, which the agent does not export", n)
		}
	}
}
