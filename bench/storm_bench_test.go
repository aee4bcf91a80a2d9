package bench

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/awssdk"
	"github.com/enroot-agent/enroot-agent/internal/fake/aws"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/credentials"
	"go.uber.org/zap"
)

// Boot storm: stormAgents refreshers, each with its own SDK client (and so
// its own connections), call RefreshNow at the same instant against the ECR
// emulator holding a token bucket of stormBurst refilled at stormRate/s.
const (
	stormAgents = 2000
	stormBurst  = 200
	stormRate   = 100
)

func BenchmarkBootStorm(b *testing.B) {
	awsEnv(b)
	// Static keys in the environment (the SDK's default chain takes them
	// first): every real node asks its own IMDS, but 2,000 agents sharing one
	// emulator on a small machine would time out there, which is not the
	// storm being measured.
	b.Setenv("AWS_ACCESS_KEY_ID", "AKIASTORMBENCHKEY001")
	b.Setenv("AWS_SECRET_ACCESS_KEY", "stormBenchSecret")
	cfg, err := config.Parse("storm.yaml", []byte("ecr:\n  registries: [123456789012.dkr.ecr.us-east-1.amazonaws.com]\n"))
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		ecr := testenv.StartECR(b)
		b.Setenv("AWS_ENDPOINT_URL_ECR", ecr.URL)
		ecr.Quota(stormBurst, stormRate)
		refreshers := make([]*credentials.Refresher, stormAgents)
		for a := range refreshers {
			if refreshers[a], err = credentials.NewRefresher(cfg, config.Root(b.TempDir()), zap.NewNop()); err != nil {
				b.Fatal(err)
			}
			// Each node loads its SDK config on its own CPU: loaded here,
			// 2,000 loads at once would spend the storm's first seconds on
			// this machine's two cores, with no call reaching the quota. The
			// SDK runs in-process (a node runs it in its AWS helper, which
			// makes the same calls with the same retryer).
			src, err := awssdk.NewSource(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			refreshers[a].Source = sdkSource{src}
		}
		start := time.Now()
		failed := storm(refreshers)
		ecr.Close()
		attempts, last := invocationStats(ecr.Invocations(), start)
		// A miss is reported, not fatal: the table shows it against its target.
		physical := float64(stormAgents) / stormRate
		b.ReportMetric(float64(failed), "gave_up")
		b.ReportMetric(last.Seconds(), "s_to_all_fresh")
		b.ReportMetric(last.Seconds()/physical, "x_of_N/rate")
		b.ReportMetric(float64(pct(attempts, 50)), "attempts_p50")
		b.ReportMetric(float64(pct(attempts, 99)), "attempts_p99")
		b.ReportMetric(float64(pct(attempts, 100)), "attempts_max")
	}
}

// storm releases every refresher at once and counts those whose refresh
// failed.
func storm(rs []*credentials.Refresher) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	gate := make(chan struct{})
	for _, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			if err := r.RefreshNow(context.Background()); err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		}()
	}
	close(gate)
	wg.Wait()
	return failed
}

// invocationStats gives the sorted attempts of each agent's call and the
// time from start until the last token was issued.
func invocationStats(inv map[string]aws.Invocation, start time.Time) ([]int, time.Duration) {
	var attempts []int
	var last time.Duration
	for _, v := range inv {
		attempts = append(attempts, v.Attempts)
		if !v.OK.IsZero() {
			last = max(last, v.OK.Sub(start))
		}
	}
	slices.Sort(attempts)
	return attempts, last
}

// pct is the p-th percentile (nearest rank) of sorted xs.
func pct(xs []int, p int) int {
	if len(xs) == 0 {
		return 0
	}
	i := (len(xs)*p + 99) / 100
	return xs[max(i-1, 0)]
}

// awsEnv points the SDK at the emulators and away from the host's AWS
// settings, for the whole benchmark process.
func awsEnv(b *testing.B) {
	dir := b.TempDir()
	for _, kv := range []string{"AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		b.Setenv(kv, "")
	}
	b.Setenv("AWS_CONFIG_FILE", dir+"/aws-config-none")
	b.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/aws-credentials-none")
}

// sdkSource is the SDK in-process as the refresher's token source.
type sdkSource struct{ *awssdk.Source }

func (s sdkSource) Token(ctx context.Context, reg config.Registry) (credentials.Token, error) {
	tok, err := s.Source.Token(ctx, reg)
	return credentials.Token{Password: tok.Password, ExpiresAt: tok.ExpiresAt}, err
}
