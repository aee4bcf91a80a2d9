package serve

import (
	"runtime"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/credentials"
	"github.com/enroot-agent/enroot-agent/pkg/credentials/probe"
	"github.com/enroot-agent/enroot-agent/pkg/images"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
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
	images       bool // WatchImages registered the cache's collector
}

// Sources are what the metrics read at scrape time.
type Sources struct {
	// Checks is the cache /verify serves from.
	Checks *verify.Cache
	// Creds is the refresher's status; ok=false when no refresher runs.
	Creds func() (credentials.Status, bool)
	// Probes holds the latest registry probe (nil: none).
	Probes *probe.Record
	// Drained says whether the daemon's drainer holds the node drained.
	Drained func() bool
}

// NewMetrics registers every metric.
func NewMetrics(version string, src Sources) *Metrics {
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
		newSnapshots(src), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// WatchImages exports the image cache's counters, once for the daemon's
// life: they outlive every config, as the counters do.
func (m *Metrics) WatchImages(stats *images.Stats) {
	if m.images {
		return
	}
	m.images = true
	m.Registry.MustRegister(newImageCollector(stats))
}

// ObserveConverge records one converge run. Steps no longer in the list
// (after a reload) are dropped.
func (m *Metrics) ObserveConverge(rep converge.Report, at time.Time) {
	m.stepDuration.Reset()
	m.stepSuccess.Reset()
	for _, r := range rep.Results {
		m.stepDuration.WithLabelValues(r.Step).Set(r.Duration.Seconds())
		m.stepSuccess.WithLabelValues(r.Step).Set(one(r.Err == nil))
	}
	m.convergeLast.Set(float64(at.Unix()))
}

// SetReady records whether the daemon has told systemd it is ready.
func (m *Metrics) SetReady(ready bool) { m.ready.Set(one(ready)) }

// ObserveRepair counts one drifted step changed back.
func (m *Metrics) ObserveRepair(step string) { m.repairs.WithLabelValues(step).Inc() }

// snapshots turns the latest credentials status and check report into
// metrics at scrape time.
type snapshots struct {
	src                                                                   Sources
	expiry, refresh, lastSuccess, check, probe, checked, healthy, drained *prometheus.Desc
}

func newSnapshots(src Sources) *snapshots {
	return &snapshots{
		src: src,
		expiry: prometheus.NewDesc(ns+"_registry_token_expiry_timestamp_seconds",
			"When the token held for the registry expires (0: no valid token).", []string{"registry"}, nil),
		refresh: prometheus.NewDesc(ns+"_credentials_refresh_total",
			"Credentials refresh attempts since the agent started, by result.", []string{"result"}, nil),
		lastSuccess: prometheus.NewDesc(ns+"_credentials_last_success_timestamp_seconds",
			"When a credentials refresh last succeeded (0: never).", nil, nil),
		check: prometheus.NewDesc(ns+"_check_status",
			"1 for the check's current status (ok, fail or unknown), 0 for the others.", []string{"check", "status"}, nil),
		probe: prometheus.NewDesc(ns+"_registry_probe_stage_ok",
			"1 when the stage (login, manifest, layer) of the latest registry probe passed, 0 when it failed.", []string{"registry", "image", "stage"}, nil),
		checked: prometheus.NewDesc(ns+"_checks_last_run_timestamp_seconds",
			"When the checks were last evaluated.", nil, nil),
		healthy: prometheus.NewDesc(ns+"_node_healthy",
			"1 when every check passed in the last evaluation (/verify answers 200), 0 otherwise.", nil, nil),
		drained: prometheus.NewDesc(ns+"_node_drained",
			"1 while the daemon (verify.drain_on_failure) holds the node drained in Slurm with its own reason.", nil, nil),
	}
}

func (s *snapshots) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{s.expiry, s.refresh, s.lastSuccess, s.check, s.checked, s.healthy, s.drained, s.probe} {
		ch <- d
	}
}

func (s *snapshots) Collect(ch chan<- prometheus.Metric) {
	if st, ok := s.src.Creds(); ok {
		for _, r := range st.Registries {
			ch <- prometheus.MustNewConstMetric(s.expiry, prometheus.GaugeValue, unix(r.ExpiresAt), r.Host)
		}
		ch <- prometheus.MustNewConstMetric(s.refresh, prometheus.CounterValue, float64(st.Successes), "success")
		ch <- prometheus.MustNewConstMetric(s.refresh, prometheus.CounterValue, float64(st.Failures), "failure")
		ch <- prometheus.MustNewConstMetric(s.lastSuccess, prometheus.GaugeValue, unix(st.LastSuccess))
	}
	for _, st := range s.src.Probes.Stages() {
		ch <- prometheus.MustNewConstMetric(s.probe, prometheus.GaugeValue, one(st.Err == ""), st.Registry, st.Image, st.Name)
	}
	ch <- prometheus.MustNewConstMetric(s.drained, prometheus.GaugeValue, one(s.src.Drained()))
	rep, ok := s.src.Checks.Last()
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(s.checked, prometheus.GaugeValue, float64(rep.Checked.Unix()))
	ch <- prometheus.MustNewConstMetric(s.healthy, prometheus.GaugeValue, one(rep.Status == verify.OK))
	for _, r := range rep.Results {
		for _, st := range []verify.Status{verify.OK, verify.Fail, verify.Unknown} {
			ch <- prometheus.MustNewConstMetric(s.check, prometheus.GaugeValue, one(r.Status == st), r.Name, st.String())
		}
	}
}

// imageCollector reads the cache's counters at scrape time.
type imageCollector struct {
	stats *images.Stats
	descs map[string]*prometheus.Desc
}

func newImageCollector(stats *images.Stats) *imageCollector {
	return &imageCollector{stats: stats, descs: map[string]*prometheus.Desc{
		"hits":      prometheus.NewDesc(ns+"_image_cache_hits_total", "Importer requests served from the cache.", nil, nil),
		"misses":    prometheus.NewDesc(ns+"_image_cache_misses_total", "Importer requests that needed an import.", nil, nil),
		"imports":   prometheus.NewDesc(ns+"_image_cache_imports_total", "Images imported into the cache, by result.", []string{"result"}, nil),
		"seconds":   prometheus.NewDesc(ns+"_image_cache_import_seconds_total", "Time spent importing images.", nil, nil),
		"bytes":     prometheus.NewDesc(ns+"_image_cache_import_bytes_total", "Bytes of squashfs imported.", nil, nil),
		"corrupt":   prometheus.NewDesc(ns+"_image_cache_corrupt_total", "Cached files that failed their check and were removed.", nil, nil),
		"evictions": prometheus.NewDesc(ns+"_image_cache_evictions_total", "Images evicted to stay under images.max_size.", nil, nil),
		"size":      prometheus.NewDesc(ns+"_image_cache_bytes", "Bytes of images in the cache directory.", nil, nil),
		"images":    prometheus.NewDesc(ns+"_image_cache_images", "Images in the cache directory.", nil, nil),
		"refused":   prometheus.NewDesc(ns+"_image_cache_refused_total", "Requests the cache turned away (the job then imports on its own), by reason.", []string{"reason"}, nil),
	}}
}

func (c *imageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *imageCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats.Snapshot()
	counter := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, v, labels...)
	}
	counter("hits", float64(s.Hits))
	counter("misses", float64(s.Misses))
	counter("imports", float64(s.Imports), "ok")
	counter("imports", float64(s.ImportFailures), "failed")
	counter("seconds", s.ImportSeconds)
	counter("bytes", float64(s.ImportBytes))
	counter("corrupt", float64(s.Corrupt))
	counter("evictions", float64(s.Evictions))
	for reason, n := range s.Refused {
		counter("refused", float64(n), reason)
	}
	ch <- prometheus.MustNewConstMetric(c.descs["size"], prometheus.GaugeValue, float64(s.CacheBytes))
	ch <- prometheus.MustNewConstMetric(c.descs["images"], prometheus.GaugeValue, float64(s.CachedImages))
}

// unix is t in Unix seconds; 0 for the zero time (never, none).
func unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.Unix())
}

func one(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
