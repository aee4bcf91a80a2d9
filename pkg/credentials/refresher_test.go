package credentials

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
	"github.com/enroot-agent/enroot-agent/internal/secret"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"go.uber.org/zap"
)

// scripted is a TokenSource whose answers the test decides; the real SDK
// path is covered end to end against the emulators.
type scripted struct {
	mu        sync.Mutex
	calls     map[string]int
	answer    func(region string) (Token, error)
	running   int
	maxRun    int
	hold      time.Duration
	nodeErr   error
	nodeCalls int
}

func (s *scripted) Token(ctx context.Context, reg config.Registry) (Token, error) {
	s.mu.Lock()
	s.calls[reg.Region]++
	s.running++
	s.maxRun = max(s.maxRun, s.running)
	s.mu.Unlock()
	time.Sleep(s.hold)
	s.mu.Lock()
	s.running--
	s.mu.Unlock()
	return s.answer(reg.Region)
}

func (s *scripted) NodeRegistry(context.Context) (config.Registry, error) {
	s.mu.Lock()
	s.nodeCalls++
	s.mu.Unlock()
	if s.nodeErr != nil {
		return config.Registry{}, s.nodeErr
	}
	return config.NodeRegistry("999988887777", "ap-south-1")
}

type clock struct{ now time.Time }

func (c *clock) Now() time.Time          { return c.now }
func (c *clock) Advance(d time.Duration) { c.now = c.now.Add(d) }

// fixture builds a refresher on a temp root with a fake clock and source,
// logging into a buffer the test scans for secrets.
func fixture(t *testing.T, yaml string) (*Refresher, *scripted, *clock, *syncBuffer, string) {
	t.Helper()
	r, logs, file := refresherOn(t, t.TempDir(), yaml)
	src := &scripted{calls: map[string]int{}}
	clk := &clock{now: t0}
	r.Source, r.now, r.rand = src, clk.Now, seeded()
	return r, src, clk, logs, file
}

const twoRegions = `ecr:
  registries:
    - 111122223333.dkr.ecr.us-east-1.amazonaws.com
    - 444455556666.dkr.ecr.us-east-1.amazonaws.com
    - 111122223333.dkr.ecr.eu-west-1.amazonaws.com
`

func TestOneCallPerRegion(t *testing.T) {
	r, src, clk, logs, file := fixture(t, twoRegions)
	src.answer = func(region string) (Token, error) {
		return Token{Password: secret.New("tok-" + region), ExpiresAt: clk.now.Add(12 * time.Hour)}, nil
	}
	if err := r.RefreshNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if src.calls["us-east-1"] != 1 || src.calls["eu-west-1"] != 1 {
		t.Fatalf("calls %v, want one per region", src.calls)
	}
	got := read(t, file)
	want := "machine 111122223333.dkr.ecr.us-east-1.amazonaws.com login AWS password tok-us-east-1\n" +
		"machine 444455556666.dkr.ecr.us-east-1.amazonaws.com login AWS password tok-us-east-1\n" +
		"machine 111122223333.dkr.ecr.eu-west-1.amazonaws.com login AWS password tok-eu-west-1\n"
	if got != want {
		t.Fatalf("file:\n%s\nwant:\n%s", got, want)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o644 {
		t.Fatalf("shared file mode %o, want 0644", st.Mode().Perm())
	}
	s := r.Status()
	if len(s.Registries) != 3 || s.Registries[2].Fingerprint != secret.New("tok-eu-west-1").Fingerprint() || s.LastError != "" || s.Successes != 1 {
		t.Fatalf("status %+v", s)
	}
	noSecret(t, logs.String(), "tok-us-east-1", "tok-eu-west-1")
}

// A refresh that fails keeps the last good token until it expires, retries
// with backoff, and removes the token at expiry rather than serve it.
func TestFailureServesUntilExpiryNeverAfter(t *testing.T) {
	r, src, clk, logs, file := fixture(t, "ecr:\n  registries: [111122223333.dkr.ecr.us-east-1.amazonaws.com]\n")
	src.answer = func(string) (Token, error) {
		return Token{Password: secret.New("GOODTOKEN"), ExpiresAt: clk.now.Add(3 * time.Hour)}, nil
	}
	if err := r.RefreshNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	testenv.WriteFile(t, file, []byte(read(t, file)+"machine nvcr.io login $oauthtoken password nv\n"), 0o644)
	src.answer = func(string) (Token, error) { return Token{}, errors.New("ThrottlingException: Rate exceeded") }
	clk.Advance(2 * time.Hour)
	if err := r.RefreshNow(context.Background()); err == nil {
		t.Fatal("a failed refresh reported success")
	}
	if !strings.Contains(read(t, file), "password GOODTOKEN") {
		t.Fatal("the last good token was dropped before its expiry")
	}
	d := r.deadline(clk.now)
	if d.Before(clk.now.Add(time.Second)) || d.After(clk.now.Add(30*time.Second)) {
		t.Fatalf("first retry in %s, want within [1s, 30s]", d.Sub(clk.now))
	}
	s := r.Status()
	if s.FailingSince != t0.Add(2*time.Hour) || s.Failures != 1 || !strings.Contains(s.LastError, "Rate exceeded") {
		t.Fatalf("status %+v", s)
	}
	clk.Advance(time.Hour) // the token's expiry
	if err := r.RefreshNow(context.Background()); err == nil {
		t.Fatal("a failed refresh reported success")
	}
	if got := read(t, file); got != "machine nvcr.io login $oauthtoken password nv\n" {
		t.Fatalf("after expiry the file holds %q; want only the foreign entry", got)
	}
	if s := r.Status(); !s.Registries[0].ExpiresAt.IsZero() || s.Failures != 2 || s.FailingSince != t0.Add(2*time.Hour) {
		t.Fatalf("status after expiry %+v", s)
	}
	// Recovery brings the line back and clears the failure state.
	src.answer = func(string) (Token, error) {
		return Token{Password: secret.New("NEXTTOKEN"), ExpiresAt: clk.now.Add(12 * time.Hour)}, nil
	}
	if err := r.RefreshNow(context.Background()); err != nil || !strings.HasPrefix(read(t, file), "machine 111122223333.dkr.ecr.us-east-1.amazonaws.com login AWS password NEXTTOKEN\n") {
		t.Fatalf("recovery: %v\n%s", err, read(t, file))
	}
	if s := r.Status(); !s.FailingSince.IsZero() || s.LastError != "" {
		t.Fatalf("status after recovery %+v", s)
	}
	noSecret(t, logs.String(), "GOODTOKEN", "NEXTTOKEN")
}

func TestDeadlineFollowsTokenLife(t *testing.T) {
	r, src, clk, _, _ := fixture(t, "ecr:\n  registries: [111122223333.dkr.ecr.us-east-1.amazonaws.com]\n")
	life := 12 * time.Hour
	src.answer = func(string) (Token, error) {
		return Token{Password: secret.New("x"), ExpiresAt: clk.now.Add(life)}, nil
	}
	r.RefreshNow(context.Background())
	if d := r.deadline(clk.now); d != clk.now.Add(10*time.Hour) {
		t.Fatalf("12h token: deadline in %s, want 10h", d.Sub(clk.now))
	}
	// With a 12h token, the regular 6h interval plus jitter comes first...
	r.sched = &schedule{Interval: 6 * time.Hour, Jitter: 36 * time.Minute, Rand: seeded()}
	r.sched.Next(clk.now)
	r.sched.setDeadline(r.deadline(clk.now))
	if n := r.sched.Next(clk.now).Sub(clk.now); n < 6*time.Hour || n > 6*time.Hour+36*time.Minute {
		t.Fatalf("next refresh in %s", n)
	}
	// ... and so does the node's slot.
	r.sched = &schedule{Interval: 6 * time.Hour, Slot: 5 * time.Hour, HasSlot: true}
	r.sched.setDeadline(r.deadline(clk.now))
	if got, want := r.sched.Next(clk.now), nextSlot(clk.now, 6*time.Hour, 5*time.Hour); !got.Equal(want) {
		t.Fatalf("next refresh at %s, want the slot %s", got, want)
	}
	life = 90 * time.Minute // less than refresh_before_expiry: refresh early
	r.RefreshNow(context.Background())
	if d := r.deadline(clk.now); d != clk.now.Add(45*time.Minute) {
		t.Fatalf("90m token: deadline in %s, want 45m", d.Sub(clk.now))
	}
}

func TestNodeRegistryWhenNoneConfigured(t *testing.T) {
	r, src, clk, _, file := fixture(t, "")
	src.answer = func(string) (Token, error) {
		return Token{Password: secret.New("n"), ExpiresAt: clk.now.Add(time.Hour * 12)}, nil
	}
	if err := r.RefreshNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := read(t, file); got != "machine 999988887777.dkr.ecr.ap-south-1.amazonaws.com login AWS password n\n" {
		t.Fatalf("file %q", got)
	}
}

func TestNoOverlappingRuns(t *testing.T) {
	r, src, _, logs, _ := fixture(t, "ecr:\n  registries: [111122223333.dkr.ecr.us-east-1.amazonaws.com]\n")
	r.now = time.Now
	src.hold = 60 * time.Millisecond
	src.answer = func(string) (Token, error) {
		return Token{Password: secret.New("x"), ExpiresAt: time.Now().Add(12 * time.Hour)}, nil
	}
	// A schedule far faster than a run: cron fires while runs are in flight.
	r.sched = &schedule{Interval: 5 * time.Millisecond, Jitter: time.Millisecond, Rand: seeded()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.Start(ctx)
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); r.RefreshNow(ctx) }()
	}
	wg.Wait()
	// Wait until cron has fired several times and skipped a tick.
	fired := func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return src.calls["us-east-1"] >= 5 && strings.Contains(logs.String(), `"cron: skip"`)
	}
	fake.Eventually(20*time.Second, fired)
	if next := r.Status().NextRefresh; next.IsZero() || next.After(time.Now().Add(time.Second)) {
		t.Fatalf("while scheduled, next refresh is %s", next)
	}
	<-r.Stop().Done()
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.maxRun != 1 {
		t.Fatalf("%d refreshes ran at once", src.maxRun)
	}
	if src.calls["us-east-1"] < 5 {
		t.Fatalf("only %d runs in 20s: the schedule is not firing", src.calls["us-east-1"])
	}
	if st, err := readStatus(r.statePath); err != nil || !st.NextRefresh.IsZero() && st.NextRefresh.Before(st.LastAttempt) {
		t.Fatalf("recorded status shows a next refresh before the last attempt: %+v %v", st, err)
	}
	// cron itself skipped the ticks that came while a run was in flight,
	// rather than queueing them behind the lock.
	if !strings.Contains(logs.String(), `"cron: skip"`) {
		t.Fatalf("SkipIfStillRunning never skipped:\n%s", logs.String())
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func noSecret(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Fatalf("a token leaked into the output:\n%s", text)
		}
	}
}

// A new process (a restart, or apply after the daemon) adopts the tokens the
// last one wrote: Ensure calls nothing while they are fresh, and a failing
// refresh keeps them rather than wiping good tokens.
func TestResumeAcrossProcesses(t *testing.T) {
	a, src, clk, _, file := fixture(t, "ecr:\n  registries: [111122223333.dkr.ecr.us-east-1.amazonaws.com]\n")
	src.answer = func(string) (Token, error) {
		return Token{Password: secret.New("FIRST"), ExpiresAt: clk.now.Add(12 * time.Hour)}, nil
	}
	if err := a.RefreshNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(file)
	b, err := NewRefresher(a.cfg, a.root, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	b.Source, b.now, b.rand = src, clk.Now, seeded()
	clk.Advance(time.Hour)
	refreshed, err := b.Ensure(context.Background())
	if err != nil || refreshed || src.calls["us-east-1"] != 1 {
		t.Fatalf("ensure with a fresh token: refreshed=%v err=%v calls=%d", refreshed, err, src.calls["us-east-1"])
	}
	if after, _ := os.Stat(file); !after.ModTime().Equal(before.ModTime()) {
		t.Fatal("ensure rewrote an up-to-date file")
	}
	// The daemon's STATUS= and metrics read the status: it shows the resumed token.
	if s := b.Status(); len(s.Registries) != 1 || !s.Registries[0].ExpiresAt.Equal(t0.Add(12*time.Hour)) {
		t.Fatalf("status after a resume without refresh: %+v", s)
	}
	src.answer = func(string) (Token, error) { return Token{}, errors.New("ServerException") }
	if err := b.RefreshNow(context.Background()); err == nil || !strings.Contains(read(t, file), "password FIRST") {
		t.Fatalf("a failed refresh after a restart dropped a good token: %v\n%s", err, read(t, file))
	}
	// The counters are this process's: b made one attempt, which failed.
	if s := b.Status(); s.Successes != 0 || s.Failures != 1 || s.Registries[0].Fingerprint != secret.New("FIRST").Fingerprint() {
		t.Fatalf("resumed status %+v", s)
	}
	// A token the status does not vouch for (edited by hand) is not adopted.
	testenv.WriteFile(t, file, []byte("machine 111122223333.dkr.ecr.us-east-1.amazonaws.com login AWS password FORGED\n"), 0o644)
	c, _ := NewRefresher(a.cfg, a.root, zap.NewNop())
	c.Source, c.now, c.rand = src, clk.Now, seeded()
	if refreshed, _ := c.Ensure(context.Background()); !refreshed || strings.Contains(read(t, file), "FORGED") {
		t.Fatalf("a forged line was adopted: refreshed=%v\n%s", refreshed, read(t, file))
	}
}

// A panicking run is recovered and the schedule keeps going: Recover sits
// inside SkipIfStillRunning, which would otherwise never free its slot.
func TestPanicDoesNotDisableSchedule(t *testing.T) {
	r, src, _, logs, _ := fixture(t, "ecr:\n  registries: [111122223333.dkr.ecr.us-east-1.amazonaws.com]\n")
	r.now = time.Now
	var n int
	src.answer = func(string) (Token, error) {
		src.mu.Lock()
		n++
		first := n == 1
		src.mu.Unlock()
		if first {
			panic("source exploded")
		}
		return Token{Password: secret.New("x"), ExpiresAt: time.Now().Add(12 * time.Hour)}, nil
	}
	r.sched = &schedule{Interval: 5 * time.Millisecond, Jitter: time.Millisecond, Rand: seeded()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.Start(ctx)
	fake.Eventually(20*time.Second, func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return n >= 3
	})
	<-r.Stop().Done()
	src.mu.Lock()
	defer src.mu.Unlock()
	if n < 3 || !strings.Contains(logs.String(), "source exploded") {
		t.Fatalf("%d runs after a panic; logs:\n%s", n, logs.String())
	}
}

// syncBuffer is a log sink safe for cron's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) Sync() error    { return nil }
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
func (s *syncBuffer) Len() int       { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Len() }

// A restart while IMDS is unreachable keeps the node registry's resumed
// token until it expires, then removes it. (The restart is in another
// boot's state: within one boot the node's registry is remembered and IMDS
// is not asked again.)
func TestDiscoveryFailureKeepsResumedToken(t *testing.T) {
	a, src, clk, _, file := fixture(t, "")
	src.answer = func(string) (Token, error) {
		return Token{Password: secret.New("NODETOKEN"), ExpiresAt: clk.now.Add(12 * time.Hour)}, nil
	}
	if err := a.RefreshNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, _ := NewRefresher(a.cfg, a.root, zap.NewNop())
	src.nodeErr = errors.New("IMDS unreachable")
	b.Source, b.now, b.rand = src, clk.Now, seeded()
	b.boot = func() string { return "another boot" }
	clk.Advance(11 * time.Hour)
	if err := b.RefreshNow(context.Background()); err == nil || !strings.Contains(read(t, file), "password NODETOKEN") {
		t.Fatalf("err %v; file %q", err, read(t, file))
	}
	if s := b.Status(); len(s.Registries) != 1 || s.Registries[0].Host != "999988887777.dkr.ecr.ap-south-1.amazonaws.com" {
		t.Fatalf("status %+v", s)
	}
	clk.Advance(time.Hour)
	if err := b.RefreshNow(context.Background()); err == nil || read(t, file) != "" {
		t.Fatalf("after expiry: err %v; file %q", err, read(t, file))
	}
}

// The node's registry is read from IMDS once per boot: a later process on
// the same node (apply, refresh, a restarted daemon) takes it from
// state_dir, a new boot asks again.
func TestNodeRegistryRememberedForTheBoot(t *testing.T) {
	root := t.TempDir()
	src := &scripted{calls: map[string]int{}}
	src.answer = func(string) (Token, error) {
		return Token{Password: secret.New("tok"), ExpiresAt: time.Now().Add(12 * time.Hour)}, nil
	}
	boot := "8f3c0f5e-boot-1"
	process := func() string {
		r, _, file := refresherOn(t, root, "")
		r.Source, r.boot = src, func() string { return boot }
		if err := r.RefreshNow(context.Background()); err != nil {
			t.Fatal(err)
		}
		return read(t, file)
	}
	process()
	if got := process(); src.nodeCalls != 1 || !strings.HasPrefix(got, "machine 999988887777.dkr.ecr.ap-south-1.amazonaws.com ") || src.calls["ap-south-1"] != 2 {
		t.Fatalf("same boot: %d IMDS reads, %d token calls, file %q", src.nodeCalls, src.calls["ap-south-1"], got)
	}
	boot = "8f3c0f5e-boot-2"
	if process(); src.nodeCalls != 2 {
		t.Fatalf("a new boot used the last boot's registry (%d IMDS reads)", src.nodeCalls)
	}
}

func TestParseNodeRegistry(t *testing.T) {
	const host = "999988887777.dkr.ecr.ap-south-1.amazonaws.com"
	if reg, ok := parseNodeRegistry("b1 "+host+"\n", "b1"); !ok || reg.Host != host || reg.Region != "ap-south-1" {
		t.Fatalf("%v %v", reg, ok)
	}
	for _, c := range []struct{ data, boot string }{
		{"b1 " + host + "\n", "b2"}, {"b1 " + host + "\n", ""}, {" " + host, ""}, {"b1 evil.example.com\n", "b1"},
		{"b1\n", "b1"}, {"", "b1"}, {"b1 " + host + " extra\n", "b1"},
	} {
		if reg, ok := parseNodeRegistry(c.data, c.boot); ok {
			t.Errorf("%q in boot %q: %v", c.data, c.boot, reg)
		}
	}
}
