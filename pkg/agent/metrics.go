package agent

import (
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"runtime"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/credentials"
	"github.com/enroot-agent/enroot-agent/pkg/credentials/probe"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

const ns = "enroot_agent"

// Metrics is the agent's Prometheus registry. Converge results are pushed in
// as they happen; credentials and check results are read at scrape time from
// their latest snapshots, so a scrape never runs a check or an ECR call.
type Metrics struct {
	Registry *prometheus.Registry

	stepDuration *prometheus.GaugeVec
	stepSuccess  *prometheus.GaugeVec
	convergeLast prometheus.Gauge
	ready        prometheus.Gauge
	repairs      *prometheus.CounterVec
}

// NewMetrics registers every metric. creds may return ok=false when no
// refresher runs. probes holds the latest registry probe (nil: none).
// drained says whether the daemon's drainer holds the node drained.
func NewMetrics(version string, cache *verify.Cache, creds func() (credentials.Status, bool), probes *probe.Record, drained func() bool) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		stepDuration: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "converge_step_duration_seconds",
			Help: "How long the step took in the last converge."}, []string{"step"}),
		stepSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "converge_step_success",
			Help: "1 when the step was done or applied in the last converge, 0 when it failed or was blocked."}, []string{"step"}),
		convergeLast: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "converge_last_run_timestamp_seconds",
			Help: "When the last converge finished."}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "ready",
			Help: "1 once the first converge and credentials refresh finished."}),
		repairs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "converge_repairs_total",
			Help: "Steps the daemon found drifted after it was ready, and changed back."}, []string{"step"}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "build_info", Help: "The agent's version.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()}})
	build.Set(1)
	m.Registry.MustRegister(m.stepDuration, m.stepSuccess, m.convergeLast, m.ready, m.repairs, build,
		&snapshots{cache: cache, creds: creds, probes: probes, drained: drained},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveConverge records one converge run. Steps no longer in the list
// (after a reload) are dropped.
func (m *Metrics) ObserveConverge(rep converge.Report, at time.Time) {
	m.stepDuration.Reset()
	m.stepSuccess.Reset()
	for _, r := range rep.Results {
		m.stepDuration.WithLabelValues(r.Step).Set(r.Duration.Seconds())
		ok := 0.0
		if r.Err == nil {
			ok = 1
		}
		m.stepSuccess.WithLabelValues(r.Step).Set(ok)
	}
	m.convergeLast.Set(float64(at.Unix()))
}

// SetReady records whether the daemon has told systemd it is ready.
func (m *Metrics) SetReady(ready bool) {
	v := 0.0
	if ready {
		v = 1
	}
	m.ready.Set(v)
}

// ObserveRepair counts one drifted step changed back.
func (m *Metrics) ObserveRepair(step string) { m.repairs.WithLabelValues(step).Inc() }
