package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
	"github.com/enroot-agent/enroot-agent/internal/secret"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/credentials"
	"github.com/enroot-agent/enroot-agent/pkg/credentials/probe"
	"github.com/enroot-agent/enroot-agent/pkg/node"
	"github.com/enroot-agent/enroot-agent/pkg/serve"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// The daemon's loop in-process, for tests run under testing/synctest: its
// tickers, timers and backoff run on the bubble's clock, so a test says
// "ten seconds later" and means it exactly, on any machine, however
// loaded. The steps are the test's (Daemon.NewNode); the credentials
// refresher and checks are the real ones, fed tokens by a stand-in source.
// No listener is bound: /verify is asked through its handler.

// notes records what the daemon tells systemd.
type notes struct {
	mu     sync.Mutex
	states []string
	wedge  chan struct{} // non-nil: a WATCHDOG=1 blocks its sender until closed
}

func (n *notes) Notify(state string) error {
	n.mu.Lock()
	n.states = append(n.states, state)
	wedge := n.wedge
	n.mu.Unlock()
	if wedge != nil && state == "WATCHDOG=1" {
		<-wedge
	}
	return nil
}

func (n *notes) count(state string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, s := range n.states {
		if s == state {
			c++
		}
	}
	return c
}

func (n *notes) has(prefix string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range n.states {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// status is the last STATUS= line.
func (n *notes) status() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := len(n.states) - 1; i >= 0; i-- {
		if s, ok := strings.CutPrefix(n.states[i], "STATUS="); ok {
			return s
		}
	}
	return ""
}

// step is a converge step the test drives: converged or drifted, an Apply
// that fails or waits, and a plan that only records (Satisfied).
type step struct {
	name string

	mu        sync.Mutex
	drifted   bool
	satisfied bool          // the drift is only a record to write
	fail      error         // Apply fails with it
	hold      chan struct{} // Apply waits for it to close
	applies   int
}

func (s *step) Name() string { return s.name }

func (s *step) Plan(context.Context) (*converge.Plan, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.drifted {
		return &converge.Plan{}, nil
	}
	changes := []converge.Change{{Action: "write", Target: "/etc/" + s.name}}
	if s.satisfied {
		return converge.Satisfied("already so; recording it", changes, s.apply), nil
	}
	return converge.NewPlan("drifted", changes, s.apply), nil
}

func (s *step) apply(ctx context.Context) error {
	s.mu.Lock()
	s.applies++
	hold, fail := s.hold, s.fail
	s.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		return fail
	}
	s.mu.Lock()
	s.drifted, s.satisfied = false, false
	s.mu.Unlock()
	return nil
}

func (s *step) set(f func(s *step)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *step) applied() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applies
}

// tokens stands in for ECR: a fresh 12-hour token per call, on the
// bubble's clock.
type tokens struct{}

func (tokens) Token(context.Context, config.Registry) (credentials.Token, error) {
	return credentials.Token{Password: secret.New("LOOPTESTTOKEN"), ExpiresAt: time.Now().Add(12 * time.Hour)}, nil
}

func (tokens) NodeRegistry(context.Context) (config.Registry, error) {
	return config.Registry{}, errors.New("not used: ecr.registries is set")
}

// sandbox is one daemon under test.
type sandbox struct {
	t     *testing.T
	root  string
	steps []converge.Step
	notes *notes
	logs  *observer.ObservedLogs
	log   *zap.Logger
	l     *loop
	// domain are checks beyond the credentials ones, and watchdog systemd's
	// WatchdogSec; both set before start.
	domain   []verify.Check
	watchdog time.Duration
}

const loopYAML = `ecr:
  registries: [111122223333.dkr.ecr.us-east-1.amazonaws.com]
verify:
  cache_ttl: 1s
`

// startNode runs the loop until the test ends. Call it inside the bubble.
func startNode(t *testing.T, yaml string, steps ...converge.Step) *sandbox {
	t.Helper()
	n := newNode(t)
	n.start(yaml, steps...)
	return n
}

func newNode(t *testing.T) *sandbox {
	core, logs := observer.New(zap.InfoLevel)
	return &sandbox{t: t, root: t.TempDir(), notes: &notes{}, logs: logs, log: zap.New(core)}
}

// start runs the loop with verifyKeys (indented lines) added to the verify
// section, and steps as the node's converge steps.
func (n *sandbox) start(verifyKeys string, steps ...converge.Step) {
	t := n.t
	t.Helper()
	if !strings.Contains(verifyKeys, "node_name:") {
		verifyKeys += "  node_name: n1\n"
	}
	if !strings.Contains(verifyKeys, "interval:") {
		verifyKeys += "  interval: 10s\n"
	}
	cfg, err := config.Parse("loop.yaml", []byte(loopYAML+verifyKeys))
	if err != nil {
		t.Fatal(err)
	}
	n.steps = steps
	d := &Daemon{
		Root: config.Root(n.root), Log: n.log, Version: "test", Notifier: n.notes, Watchdog: n.watchdog,
		NewRefresher: func(cfg config.Config, root config.Root, log *zap.Logger) (Refresher, error) {
			r, err := credentials.NewRefresher(cfg, root, log)
			if err == nil {
				r.Source = tokens{}
			}
			return r, err
		},
		NewNode: func(cfg config.Config, probes *probe.Record) *node.Node {
			return node.Assemble(node.Parts{Steps: n.steps, Credentials: credentials.Checks(cfg, config.Root(n.root), probes), Domain: n.domain})
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.l = d.newLoop(ctx, cfg)
	if err := n.l.prepare(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- n.l.start(nil) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitFor sleeps on the bubble's clock until cond holds; an hour of fake
// time costs nothing real.
func (n *sandbox) waitFor(what string, cond func() bool) {
	n.t.Helper()
	if !fake.Eventually(time.Hour, cond) {
		n.dump()
		n.t.Fatalf("%s: not within an hour; STATUS=%s", what, n.notes.status())
	}
}

// after lets d pass on the bubble's clock and everything it started settle.
func after(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func (n *sandbox) credentialsFile() string {
	return filepath.Join(n.root, "run/enroot-agent/enroot-config/.credentials")
}

func (n *sandbox) exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// verify asks /verify through the daemon's own handler.
func (n *sandbox) verify() (int, verify.Report) {
	n.t.Helper()
	rec := httptest.NewRecorder()
	serve.Handler(n.l.checks.cache, func() error { return nil }, n.l.serve.metrics.Registry).ServeHTTP(rec, httptest.NewRequest("GET", "/verify", nil))
	var rep verify.Report
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
		n.t.Fatalf("/verify: %v\n%s", err, rec.Body)
	}
	return rec.Code, rep
}

// agree asks /verify and checks that STATUS= says what it says: ready on a
// 200, else the same root cause.
func (n *sandbox) agree() string {
	n.t.Helper()
	code, rep := n.verify()
	synctest.Wait() // the loop takes the evaluation /verify just made
	st := n.notes.status()
	cause := node.RootCause(rep.Results)
	switch {
	case code == 200 && !strings.HasPrefix(st, "ready: "):
		n.t.Fatalf("/verify 200 while STATUS=%s", st)
	case code != 200 && !strings.Contains(st, "check "+cause+" "):
		n.t.Fatalf("/verify %d naming %q while STATUS=%s", code, cause, st)
	}
	return st
}

func (n *sandbox) logged(msg string) int { return n.logs.FilterMessage(msg).Len() }

func (n *sandbox) dump() {
	for _, e := range n.logs.All() {
		n.t.Logf("%s %s %v", e.Time.Format("15:04:05.000"), e.Message, e.ContextMap())
	}
}

// A listener that stops accepting (its Serve ended by an error, not by a
// close: pkg/serve's TestDeadListenerSaysSo) fails /healthz and stops the
// watchdog pings, so systemd restarts the agent instead of leaving one
// nobody can reach (issue finding 3).
func TestDeadListenerFailsHealthzAndWatchdog(t *testing.T) {
	rec := &notes{}
	l := &loop{d: &Daemon{Notifier: rec, Log: zap.NewNop()}, log: zap.NewNop()}
	l.serve.beat.Store(time.Now().UnixNano())
	var dead atomic.Pointer[error]
	l.serve.listeners.Set("verify.listen", func() error {
		if e := dead.Load(); e != nil {
			return *e
		}
		return nil
	})
	healthz := serve.Handler(nil, l.alive, nil)
	probe := func() int {
		w := httptest.NewRecorder()
		healthz.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		return w.Code
	}
	l.watchdogPing()
	if code, n := probe(), rec.count("WATCHDOG=1"); code != 200 || n != 1 {
		t.Fatalf("healthy: /healthz %d, %d pings", code, n)
	}
	err := errors.New("accept tcp 127.0.0.1:9: use of closed network connection")
	dead.Store(&err)
	l.watchdogPing()
	if code, n := probe(), rec.count("WATCHDOG=1"); code != http.StatusServiceUnavailable || n != 1 {
		t.Fatalf("dead listener: /healthz %d, %d pings", code, n)
	}
	if err := l.alive(); err == nil || !strings.Contains(err.Error(), "verify.listen stopped accepting") {
		t.Fatalf("alive: %v", err)
	}
	// A listener watched no more (the image cache turned off) counts no more.
	l.serve.listeners.Set("verify.listen", nil)
	l.serve.listeners.Set("other", func() error { return nil })
	if err := l.alive(); err != nil {
		t.Fatal(err)
	}
}

// The loop turns on events only: idle on a healthy node, it turns for its
// check round (verify.interval, 10s here) and nothing else, where it used
// to turn every second to refresh its heartbeat and STATUS=.
func TestIdleLoopTurnsOnlyForItsChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := startNode(t, "", &step{name: "state-dir"})
		n.waitFor("READY=1", func() bool { return n.notes.has("READY=1") })
		after(time.Minute)
		turns, last := 0, n.l.serve.beat.Load()
		for range 60 {
			after(time.Second)
			if b := n.l.serve.beat.Load(); b != last {
				turns, last = turns+1, b
			}
		}
		if turns != 6 {
			t.Fatalf("the idle loop turned in %d of 60 seconds, want 6 (its check rounds)", turns)
		}
		if st := n.agree(); !strings.HasPrefix(st, "ready: ") {
			t.Fatalf("STATUS=%s", st)
		}
	})
}

// /healthz asks an idle loop to turn, since its heartbeat alone says
// nothing after a quiet spell: an idle loop answers at once, a wedged one
// (here stuck in a watchdog ping) fails it after loopStale, and answers
// again once it runs.
func TestHealthzAsksTheLoopToTurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNode(t)
		n.watchdog = time.Minute
		n.start("", &step{name: "state-dir"})
		n.waitFor("READY=1", func() bool { return n.notes.has("READY=1") })
		synctest.Wait()
		n.l.serve.beat.Store(time.Now().Add(-time.Minute).UnixNano()) // a quiet minute
		asked := time.Now()
		if err := n.l.alive(); err != nil {
			t.Fatalf("an idle loop: %v", err)
		}
		if waited := time.Since(asked); waited != 0 {
			t.Fatalf("an idle loop took %s to turn", waited)
		}
		if age := time.Since(time.Unix(0, n.l.serve.beat.Load())); age != 0 {
			t.Fatalf("the beat is %s old after the loop turned", age)
		}

		wedge := make(chan struct{})
		n.notes.mu.Lock()
		n.notes.wedge = wedge
		n.notes.mu.Unlock()
		after(30*time.Second + loopStale + time.Second) // the ping at 30s wedges the loop
		asked = time.Now()
		err := n.l.alive()
		if err == nil || !strings.Contains(err.Error(), "did not turn within 10s") {
			t.Fatalf("a wedged loop: %v", err)
		}
		if waited := time.Since(asked); waited != loopStale {
			t.Fatalf("a wedged loop failed /healthz after %s, want %s", waited, loopStale)
		}
		n.notes.mu.Lock()
		n.notes.wedge = nil
		n.notes.mu.Unlock()
		close(wedge)
		synctest.Wait()
		if err := n.l.alive(); err != nil {
			t.Fatalf("the loop runs again: %v", err)
		}
	})
}

// A refresh on the refresher's own schedule shows in STATUS= as it ends:
// the loop is woken for it, not left to find it at its next turn (an hour
// away here).
func TestScheduledRefreshShowsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := startNode(t, "  interval: 1h\n", &step{name: "state-dir"})
		n.waitFor("READY=1", func() bool { return n.notes.has("READY=1") })
		synctest.Wait()
		before, _ := n.l.credsStatus()
		time.Sleep(time.Until(before.NextRefresh))
		synctest.Wait()
		now, _ := n.l.credsStatus()
		if !now.LastSuccess.After(before.LastSuccess) {
			t.Fatalf("no scheduled refresh at %s: %+v", before.NextRefresh, now)
		}
		want := "token valid until " + hm(now.Registries[0].ExpiresAt) + ", next refresh " + hm(now.NextRefresh)
		if st := n.notes.status(); !strings.Contains(st, want) {
			t.Fatalf("STATUS=%s right after the scheduled refresh, want %q", st, want)
		}
	})
}
