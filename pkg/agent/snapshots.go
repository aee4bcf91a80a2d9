package agent

import (
	"github.com/enroot-agent/enroot-agent/pkg/credentials"
	"github.com/enroot-agent/enroot-agent/pkg/credentials/probe"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	descExpiry = prometheus.NewDesc(ns+"_registry_token_expiry_timestamp_seconds",
		"When the token held for the registry expires (0: no valid token).", []string{"registry"}, nil)
	descRefresh = prometheus.NewDesc(ns+"_credentials_refresh_total",
		"Credentials refresh attempts since the agent started, by result.", []string{"result"}, nil)
	descLastSuccess = prometheus.NewDesc(ns+"_credentials_last_success_timestamp_seconds",
		"When a credentials refresh last succeeded (0: never).", nil, nil)
	descCheck = prometheus.NewDesc(ns+"_check_status",
		"1 for the check's current status (ok, fail or unknown), 0 for the others.", []string{"check", "status"}, nil)
	descProbe = prometheus.NewDesc(ns+"_registry_probe_stage_ok",
		"1 when the stage (login, manifest, layer) of the latest registry probe passed, 0 when it failed.", []string{"registry", "image", "stage"}, nil)
	descChecked = prometheus.NewDesc(ns+"_checks_last_run_timestamp_seconds",
		"When the checks were last evaluated.", nil, nil)
	descHealthy = prometheus.NewDesc(ns+"_node_healthy",
		"1 when every check passed in the last evaluation (/verify answers 200), 0 otherwise.", nil, nil)
	descDrained = prometheus.NewDesc(ns+"_node_drained",
		"1 while the daemon (verify.drain_on_failure) holds the node drained in Slurm with its own reason.", nil, nil)
)

// snapshots turns the latest credentials status and check report into
// metrics at scrape time.
type snapshots struct {
	cache   *verify.Cache
	creds   func() (credentials.Status, bool)
	probes  *probe.Record
	drained func() bool
}

func (s *snapshots) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descExpiry, descRefresh, descLastSuccess, descCheck, descChecked, descHealthy, descDrained, descProbe} {
		ch <- d
	}
}

func (s *snapshots) Collect(ch chan<- prometheus.Metric) {
	if st, ok := s.creds(); ok {
		for _, r := range st.Registries {
			exp := 0.0
			if !r.ExpiresAt.IsZero() {
				exp = float64(r.ExpiresAt.Unix())
			}
			ch <- prometheus.MustNewConstMetric(descExpiry, prometheus.GaugeValue, exp, r.Host)
		}
		ch <- prometheus.MustNewConstMetric(descRefresh, prometheus.CounterValue, float64(st.Successes), "success")
		ch <- prometheus.MustNewConstMetric(descRefresh, prometheus.CounterValue, float64(st.Failures), "failure")
		last := 0.0
		if !st.LastSuccess.IsZero() {
			last = float64(st.LastSuccess.Unix())
		}
		ch <- prometheus.MustNewConstMetric(descLastSuccess, prometheus.GaugeValue, last)
	}
	for _, st := range s.probes.Stages() {
		v := 1.0
		if st.Err != "" {
			v = 0
		}
		ch <- prometheus.MustNewConstMetric(descProbe, prometheus.GaugeValue, v, st.Registry, st.Image, st.Name)
	}
	ch <- prometheus.MustNewConstMetric(descDrained, prometheus.GaugeValue, one(s.drained()))
	rep, ok := s.cache.Last()
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(descChecked, prometheus.GaugeValue, float64(rep.Checked.Unix()))
	ch <- prometheus.MustNewConstMetric(descHealthy, prometheus.GaugeValue, one(rep.Status == verify.OK))
	for _, r := range rep.Results {
		for _, st := range []verify.Status{verify.OK, verify.Fail, verify.Unknown} {
			v := 0.0
			if r.Status == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descCheck, prometheus.GaugeValue, v, r.Name, st.String())
		}
	}
}

func one(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
