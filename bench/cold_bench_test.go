package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
)

// BenchmarkColdConverge: a first apply on a bare node, every download
// delayed by BENCH_DOWNLOAD_DELAY (default 500ms, a slow mirror). The two
// chains are download→install for enroot (step enroot-packages) and
// download→build→install for Pyxis (pyxis-fetch, pyxis-build); the timeline
// comes from the agent's own step log lines. Reports whether the downloads
// overlapped, and total wall time over the slower chain.
func BenchmarkColdConverge(b *testing.B) {
	delay := 500 * time.Millisecond
	if v := os.Getenv("BENCH_DOWNLOAD_DELAY"); v != "" {
		var err error
		if delay, err = time.ParseDuration(v); err != nil {
			b.Fatalf("BENCH_DOWNLOAD_DELAY: %v", err)
		}
	}
	for i := 0; i < b.N; i++ {
		n := newNode(b)
		slow := pkgrepo.Fault{Delay: delay}
		for _, name := range []string{"enroot_4.1.2-1_amd64.deb", "enroot+caps_4.1.2-1_amd64.deb", "enroot_4.1.2-1_arm64.deb", "enroot+caps_4.1.2-1_arm64.deb"} {
			n.enroot.Fail("v4.1.2/"+name, slow)
		}
		n.pyxis.Fail("v0.24.0.tar.gz", slow)
		total, log := n.apply(b)
		steps := timeline(b, log)
		enroot := steps["enroot-packages"]
		fetch, build := steps["pyxis-fetch"], steps["pyxis-build"]
		pyxis := fetch.took() + build.took()
		slowest := max(enroot.took(), pyxis)
		overlap := 0.0
		if fetch.start.Before(enroot.end) && enroot.start.Before(fetch.end) {
			overlap = 1
		}
		b.Logf("timeline (ms from the first step):\n%s", steps)
		b.ReportMetric(ms(total), "total_ms")
		b.ReportMetric(ms(enroot.took()), "enroot_chain_ms")
		b.ReportMetric(ms(pyxis), "pyxis_chain_ms")
		b.ReportMetric(float64(total)/float64(slowest), "total/slowest_chain")
		b.ReportMetric(overlap, "downloads_overlap")
	}
}

type span struct{ start, end time.Time }

func (s span) took() time.Duration { return s.end.Sub(s.start) }

type spans map[string]span

// String lists the spans in start order, relative to the earliest.
func (s spans) String() string {
	var first time.Time
	for _, sp := range s {
		if first.IsZero() || sp.start.Before(first) {
			first = sp.start
		}
	}
	var lines []string
	for name, sp := range s {
		lines = append(lines, fmt.Sprintf("%8.0f %8.0f  %s", ms(sp.start.Sub(first)), ms(sp.end.Sub(first)), name))
	}
	sortStrings(lines)
	return strings.Join(lines, "\n")
}

// timeline reads the runner's "step starting" / "step done" JSON lines.
func timeline(b *testing.B, log string) spans {
	out := spans{}
	for _, line := range strings.Split(log, "\n") {
		var e struct {
			TS   string `json:"ts"`
			Msg  string `json:"msg"`
			Step string `json:"step"`
		}
		if json.Unmarshal([]byte(line), &e) != nil || e.Step == "" {
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, e.TS)
		if err != nil {
			b.Fatalf("log time %q: %v", e.TS, err)
		}
		sp := out[e.Step]
		switch e.Msg {
		case "step starting":
			sp.start = ts
		case "step done":
			sp.end = ts
		default:
			continue
		}
		out[e.Step] = sp
	}
	for _, name := range []string{"enroot-packages", "pyxis-fetch", "pyxis-build"} {
		if sp := out[name]; sp.start.IsZero() || sp.end.IsZero() {
			b.Fatalf("no start and end for step %s in the log:\n%s", name, log)
		}
	}
	return out
}
