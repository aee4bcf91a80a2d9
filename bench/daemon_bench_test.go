package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
)

// daemon is the real binary running `run` on a converged sandbox, without
// NOTIFY_SOCKET (as when started by hand): ready once /healthz answers.
type daemon struct {
	cmd  *exec.Cmd
	url  string
	pid  int
	done chan struct{}
	log  lockedBuffer
}

// lockedBuffer is the daemon's log, read while the daemon writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startDaemon(b *testing.B, n *node) *daemon { return startDaemonWith(b, n, "") }

// startDaemonWith is startDaemon with more verify keys ("  interval: 10s\n").
func startDaemonWith(b *testing.B, n *node, verifyKeys string) *daemon {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := filepath.Join(n.root, "etc/enroot-agent/config.yaml")
	old, _ := os.ReadFile(cfg)
	if !bytes.Contains(old, []byte("\nverify:")) {
		writeFile(b, cfg, string(old)+"verify:\n  listen: "+addr+"\n"+verifyKeys)
	}
	d := &daemon{url: "http://" + addr, done: make(chan struct{})}
	d.cmd = exec.Command(n.bin, "--root", n.root, "--log-format", "json", "run")
	d.cmd.Env, d.cmd.Stdout, d.cmd.Stderr = n.env, &d.log, &d.log
	if err := d.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	d.pid = d.cmd.Process.Pid
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	b.Cleanup(func() { _ = d.cmd.Process.Kill(); <-d.done })
	exited := false
	if !fake.Eventually(60*time.Second, func() bool {
		select {
		case <-d.done:
			exited = true
			return true
		default:
		}
		code, _ := httpGet(d.url + "/healthz")
		return code == 200
	}) {
		b.Fatalf("daemon not serving within 60s:\n%s", d.log.String())
	}
	if exited {
		b.Fatalf("daemon exited:\n%s", d.log.String())
	}
	return d
}

func httpGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// cpu is the CPU time the process has used: the sum of every thread's
// schedstat (nanoseconds on CPU; finer than /proc/<pid>/stat's 10 ms ticks
// of utime+stime, which cpuTicks reads as a cross-check).
func cpu(b *testing.B, pid int) time.Duration {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		b.Fatalf("no threads of %d: %v", pid, err)
	}
	var total time.Duration
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue // the thread just exited
		}
		ns, err := strconv.ParseInt(strings.Fields(string(data))[0], 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		total += time.Duration(ns)
	}
	return total
}

// cpuTicks is utime+stime from /proc/<pid>/stat, in ms (USER_HZ 100).
func cpuTicks(b *testing.B, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	u, _ := strconv.ParseFloat(f[11], 64) // field 14 of stat(5); f[0] is field 3
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) * 10
}

// status reads a "VmRSS:   1234 kB" field of /proc/<pid>/status, in MB.
func status(b *testing.B, pid int, field string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			return kb / 1024
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// goroutines reads go_goroutines from /metrics.
func (d *daemon) goroutines(b *testing.B) float64 {
	_, body := httpGet(d.url + "/metrics")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return n
		}
	}
	b.Fatalf("no go_goroutines in /metrics:\n%s", body)
	return 0
}

// BenchmarkDaemonIdle: the daemon after start-up on a converged node, left
// alone for BENCH_IDLE (default 60s): CPU used, RSS, goroutines before and
// after; then a /verify probe storm (1,000 requests, 50 at a time) and the
// memory it adds. Also the size of the shipped binary (make build's flags).
func BenchmarkDaemonIdle(b *testing.B) {
	idle := 60 * time.Second
	if v := os.Getenv("BENCH_IDLE"); v != "" {
		var err error
		if idle, err = time.ParseDuration(v); err != nil {
			b.Fatalf("BENCH_IDLE: %v", err)
		}
	}
	size, front := shippedSize(b), shippedSize(b, "./cmd/enroot-agent-front")
	for i := 0; i < b.N; i++ {
		// A healthy node, as a daemon idles on: with no slurm.conf, srun
		// cannot say its version, so every check round would start it
		// again (the Detector keeps answers only), 4 times a minute.
		n := newNode(b)
		healthy(b, n)
		n.apply(b)
		d := startDaemon(b, n)
		time.Sleep(2 * time.Second) // start-up's own work settles
		g0, c0, t0 := d.goroutines(b), cpu(b, d.pid), cpuTicks(b, d.pid)
		procs0 := sum(n.started())
		time.Sleep(idle)
		c1, t1, g1 := cpu(b, d.pid), cpuTicks(b, d.pid), d.goroutines(b)
		b.ReportMetric(float64(sum(n.started())-procs0), "idle_wrapped_procs")
		rss := status(b, d.pid, "VmRSS")
		// The binary's own clean pages (file) apart from the process's
		// memory (anon).
		b.ReportMetric(status(b, d.pid, "RssAnon"), "idle_rss_anon_MB")
		b.ReportMetric(status(b, d.pid, "RssFile"), "idle_rss_file_MB")
		failed := probeStorm(d.url+"/verify", 1000, 50)
		b.ReportMetric(ms(c1-c0)*float64(time.Minute)/float64(idle), "idle_cpu_ms/60s")
		b.ReportMetric((t1-t0)*float64(time.Minute)/float64(idle), "idle_stat_ticks_ms/60s")
		b.ReportMetric(rss, "idle_rss_MB")
		b.ReportMetric(g0, "goroutines_start")
		b.ReportMetric(g1, "goroutines_end")
		b.ReportMetric(status(b, d.pid, "VmRSS")-rss, "verify_storm_rss_MB")
		b.ReportMetric(status(b, d.pid, "VmHWM"), "peak_rss_MB")
		b.ReportMetric(float64(failed), "verify_storm_errors")
		b.ReportMetric(size, "binary_MB")
		b.ReportMetric(front, "front_binary_MB")
	}
}

// probeStorm sends total GETs, conc at a time, each on its own connection
// as independent probes would; it returns how many did not get an answer.
func probeStorm(url string, total, conc int) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	jobs := make(chan struct{}, total)
	for i := 0; i < total; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
			for range jobs {
				resp, err := c.Get(url)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return failed
}

// shippedSize builds the agent (./cmd/enroot-agent, or pkg: the front) as
// `make build` does and returns its size.
func shippedSize(b *testing.B, pkg ...string) float64 {
	target := "./cmd/enroot-agent"
	if len(pkg) > 0 {
		target = pkg[0]
	}
	out := filepath.Join(b.TempDir(), "enroot-agent")
	cmd := exec.Command(fake.GoTool(), "build", "-trimpath", "-ldflags", "-s -w", "-o", out, target)
	cmd.Dir, cmd.Env = fake.ModuleRoot(), append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, msg)
	}
	st, err := os.Stat(out)
	if err != nil {
		b.Fatal(err)
	}
	return float64(st.Size()) / (1 << 20)
}

// BenchmarkRefresh: `enroot-agent refresh` (the real binary: process start,
// config, SDK, IMDSv2 credentials, one GetAuthorizationToken, file write)
// against the local emulators.
func BenchmarkRefresh(b *testing.B) {
	for i := 0; i < b.N; i++ {
		n := newNode(b)
		n.apply(b)
		var took []time.Duration
		for r := 0; r < 30; r++ {
			cmd := exec.Command(n.bin, "--root", n.root, "refresh")
			cmd.Env = n.env
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("refresh: %v\n%s", err, out)
			}
			took = append(took, time.Since(start))
		}
		sortDurations(took)
		b.ReportMetric(ms(took[len(took)/2]), "refresh_p50_ms")
		b.ReportMetric(ms(took[len(took)*99/100]), "refresh_p99_ms")
	}
}
