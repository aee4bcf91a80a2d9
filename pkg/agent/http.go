package agent

import (
	"encoding/json"
	"fmt"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// handler serves the agent's endpoints:
//
//	GET /verify   every check as JSON; 200 when all are ok, 503 otherwise
//	GET /healthz  the daemon's own liveness (alive returns nil), not the node's
//	GET /metrics  Prometheus exposition
func handler(cache *verify.Cache, alive func() error, metrics prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /verify", func(w http.ResponseWriter, r *http.Request) {
		rep, err := cache.Get(r.Context())
		if err != nil {
			http.Error(w, "verify: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		code := http.StatusOK
		if rep.Status != verify.OK {
			code = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if err := alive(); err != nil {
			http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{
		// One broken collector must not hide every other metric.
		ErrorHandling: promhttp.ContinueOnError,
	}))
	return mux
}
