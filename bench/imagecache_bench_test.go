package bench

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
)

// concurrency is how many jobs start the same new image at once.
var concurrency = []int{1, 4, 8}

// BenchmarkImageCache: the real chain (realchain.Chain) on this machine,
// with an image of imageBlob random bytes, measured side by side in one
// run, images.cache off and then on:
//
//   - the time from srun to the first line of the container's output:
//     Pyxis's own import (off, a user's first start, and their second, when
//     enroot's own layer cache has the layers), the cache's first import
//     (miss) and a cache hit (another user, same image);
//   - the registry bytes fetched when N users start a new image at once,
//     and the time until the last of them prints its first line.
func BenchmarkImageCache(b *testing.B) {
	for i := 0; i < b.N; i++ {
		r := newCacheRig(b, 1+slices.Max(concurrency))
		tags := []string{"t"}
		for _, n := range concurrency {
			tags = append(tags, fmt.Sprintf("off%d", n), fmt.Sprintf("on%d", n))
		}
		for _, tag := range tags {
			r.push(b, tag)
		}
		r.apply(b) // images.cache off: Pyxis imports itself
		if err := r.c.StartSlurm(); err != nil {
			b.Fatal(err)
		}
		r.use("t")
		offCold := r.time(b, r.users[0])
		offWarm := r.time(b, r.users[0])
		off, offAll := map[int]float64{}, map[int]time.Duration{}
		for _, n := range concurrency {
			r.use(fmt.Sprintf("off%d", n))
			off[n], offAll[n] = r.starts(b, n)
		}
		r.cacheOn(b)
		r.use("t")
		miss := r.time(b, r.users[1])
		hit := r.time(b, r.users[2])
		on, onAll := map[int]float64{}, map[int]time.Duration{}
		for _, n := range concurrency {
			r.use(fmt.Sprintf("on%d", n))
			on[n], onAll[n] = r.starts(b, n)
		}
		b.ReportMetric(offCold.Seconds(), "off_first_s")
		b.ReportMetric(offWarm.Seconds(), "off_again_s")
		b.ReportMetric(miss.Seconds(), "on_miss_s")
		b.ReportMetric(hit.Seconds(), "on_hit_s")
		b.ReportMetric(offCold.Seconds()/hit.Seconds(), "off_first/hit")
		b.ReportMetric(offWarm.Seconds()/hit.Seconds(), "off_again/hit")
		image := off[1] // one import's worth
		for _, n := range concurrency {
			b.ReportMetric(off[n]/(1<<20), fmt.Sprintf("off_MB_N%d", n))
			b.ReportMetric(on[n]/(1<<20), fmt.Sprintf("on_MB_N%d", n))
			b.ReportMetric(on[n]/image, fmt.Sprintf("on_N%d/image", n))
			b.ReportMetric(offAll[n].Seconds(), fmt.Sprintf("off_N%d_last_s", n))
			b.ReportMetric(onAll[n].Seconds(), fmt.Sprintf("on_N%d_last_s", n))
		}
	}
}

func (r *cacheRig) time(b *testing.B, user string) time.Duration {
	took, err := r.firstLine(b, user)
	if err != nil {
		b.Fatal(err)
	}
	return took
}

// cacheOn turns images.cache on (the Pyxis line gets importer=) and starts
// the daemon that serves it.
func (r *cacheRig) cacheOn(b *testing.B) {
	bin := filepath.Join(r.c.Dir, "enroot-agent") // reachable by Pyxis as the job's user
	data, err := os.ReadFile(r.c.Bin)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		b.Fatal(err)
	}
	f, err := os.OpenFile(r.c.Config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(f, "images:\n  cache: true\n  importer: %s\n", bin) // images.dir: the default
	f.Close()
	r.apply(b)
	r.startDaemon(b)
}

// startDaemon runs the agent's daemon, whose image cache serves Pyxis's
// importer, until the benchmark ends.
func (r *cacheRig) startDaemon(b *testing.B) {
	d := exec.Command(r.c.Bin, "--config", r.c.Config, "--log-format", "console", "run")
	d.Env, d.Stdout, d.Stderr = r.c.Env, &syncWriter{w: &r.dlog}, &syncWriter{w: &r.dlog}
	if err := d.Start(); err != nil {
		b.Fatal(err)
	}
	r.daemon = d
	b.Cleanup(r.stopDaemon)
	// The socket exists from bind(2), a moment before listen(2): wait until
	// it accepts.
	if !fake.Eventually(2*time.Minute, func() bool {
		c, err := net.Dial("unix", "/run/enroot-agent/images.sock")
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		b.Fatalf("nothing accepts connections on the image cache socket:\n%s", r.c.Redact(r.daemonLog()))
	}
}

// stopDaemon ends the daemon startDaemon started, if it runs.
func (r *cacheRig) stopDaemon() {
	if r.daemon != nil {
		_ = r.daemon.Process.Kill()
		_ = r.daemon.Wait()
		r.daemon = nil
	}
}

var logMu sync.Mutex

func (r *cacheRig) daemonLog() string {
	logMu.Lock()
	defer logMu.Unlock()
	return r.dlog.String()
}

type syncWriter struct{ w io.Writer }

func (s *syncWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	return s.w.Write(p)
}
