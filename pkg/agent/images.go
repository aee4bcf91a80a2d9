package agent

import (
	"github.com/enroot-agent/enroot-agent/pkg/images"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// imageCache is the daemon's share of the image cache: the service while
// images.cache is on, and its counters, which live as long as the daemon.
type imageCache struct {
	svc   *images.Service
	stats images.Stats
}

// startImages starts the cache service when images.cache is on, and
// registers its metrics once. A cache that cannot start is logged, never
// fatal: the importer then falls back to each user's own import.
func (l *loop) startImages() {
	if l.serve.metrics != nil && l.images.svc == nil {
		_ = l.serve.metrics.Registry.Register(&imageCollector{stats: &l.images.stats})
	}
	if !l.cfg.Images.Cache {
		return
	}
	node, err := slurm.NodeName(l.cfg.Verify.NodeName)
	if err != nil {
		node = "node"
	}
	svc, err := images.Start(l.cfg, l.d.Root, node, &l.images.stats, l.log.Named("images"))
	if err != nil {
		l.log.Error("image cache not started; jobs import their images themselves", zap.Error(err))
		return
	}
	l.images.svc = svc
	l.serve.listeners.set(imageSocket, svc.Err)
}

const imageSocket = "the image cache socket"

func (l *loop) stopImages() {
	if l.images.svc != nil {
		l.serve.listeners.set(imageSocket, nil)
		l.images.svc.Stop()
		l.images.svc = nil
	}
}

// imageCollector reads the cache's counters at scrape time.
type imageCollector struct{ stats *images.Stats }

var imageDescs = map[string]*prometheus.Desc{
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
}

func (c *imageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range imageDescs {
		ch <- d
	}
}

func (c *imageCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats.Snapshot()
	counter := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(imageDescs[name], prometheus.CounterValue, v, labels...)
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
	ch <- prometheus.MustNewConstMetric(imageDescs["size"], prometheus.GaugeValue, float64(s.CacheBytes))
	ch <- prometheus.MustNewConstMetric(imageDescs["images"], prometheus.GaugeValue, float64(s.CachedImages))
}
