package credentials

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// awsEmulators points the real SDK at local IMDSv2 and ECR emulators through
// the standard endpoint variables, exactly as on a node.
func awsEmulators(t *testing.T) (*testenv.IMDS, *testenv.ECR) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	imds := testenv.StartIMDS(t, "210987654321", "eu-central-1")
	ecr := testenv.StartECR(t)
	ecr.AccessKey = imds.AccessKey
	for _, kv := range testenv.AWSEnv(imds, ecr, t.TempDir()) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return imds, ecr
}

// realRefresher builds a refresher on a temp root with its production
// source, clock and randomness, logging into a buffer the test scans for
// secrets; it returns the shared credentials file's path.
func realRefresher(t *testing.T, yaml string) (*Refresher, *syncBuffer, string) {
	t.Helper()
	cfg, err := config.Parse("c.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	logs := &syncBuffer{}
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), logs, zap.DebugLevel))
	r, err := NewRefresher(cfg, config.Root(root), log)
	if err != nil {
		t.Fatal(err)
	}
	return r, logs, root + config.DefaultEnrootConfigPath + "/.credentials"
}

func TestSDKOneCallPerRegionWithInstanceRole(t *testing.T) {
	imds, ecr := awsEmulators(t)
	r, logs, file := realRefresher(t, twoRegions)
	ecr.Throttle(2) // the SDK's retryer absorbs a short burst of throttling
	if err := r.RefreshNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ecr.Calls("us-east-1") != 3 || ecr.Calls("eu-west-1") != 1 {
		t.Fatalf("calls: us-east-1 %d (2 throttled), eu-west-1 %d", ecr.Calls("us-east-1"), ecr.Calls("eu-west-1"))
	}
	n := ParseNetrc(read(t, file))
	issued := ecr.Issued()
	if len(n.Entries()) != 3 || n.Entries()[0].Password.Reveal() != n.Entries()[1].Password.Reveal() || imds.V1Refused != 0 {
		t.Fatalf("entries %+v (IMDSv1 attempts %d)", n.Entries(), imds.V1Refused)
	}
	exp := r.Status().Registries[0].ExpiresAt
	if d := time.Until(exp); d < 11*time.Hour || d > 12*time.Hour {
		t.Fatalf("expiry in %s", d)
	}
	noSecret(t, logs.String(), issued...)
}

func TestSDKNodeRegistryFromIdentityDocument(t *testing.T) {
	_, ecr := awsEmulators(t)
	r, _, file := realRefresher(t, "")
	ecr.SetLife(90 * time.Minute) // shorter than refresh_before_expiry
	if err := r.RefreshNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Until(r.deadline(time.Now())); d < 44*time.Minute || d > 45*time.Minute {
		t.Fatalf("a 90m token is refreshed in %s, want about 45m (half its life)", d)
	}
	if !strings.HasPrefix(read(t, file), "machine 210987654321.dkr.ecr.eu-central-1.amazonaws.com login AWS password ecrtok") || ecr.Calls("eu-central-1") != 1 {
		t.Fatalf("file %q, calls %d", read(t, file), ecr.Calls(""))
	}
}

func TestSDKHangAndServerErrorsFail(t *testing.T) {
	_, ecr := awsEmulators(t)
	r, logs, _ := realRefresher(t, "ecr:\n  registries: [111122223333.dkr.ecr.us-east-1.amazonaws.com]\n  timeout: 5s\n")
	ecr.Hang(true)
	start := time.Now()
	err := r.RefreshNow(context.Background())
	// ecr.timeout (5s) ended the call: an unbounded one never returns, and
	// the default (2m) would take twice the bound below, which leaves a
	// loaded machine all the slack it needs.
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") || time.Since(start) >= time.Minute {
		t.Fatalf("hang: err %v after %s", err, time.Since(start))
	}
	ecr.Hang(false)
	ecr.Fail(10)
	if err := r.RefreshNow(context.Background()); err == nil || !strings.Contains(err.Error(), "ServerException") {
		t.Fatalf("5xx: %v", err)
	}
	if s := r.Status(); s.Failures != 2 || s.FailingSince.IsZero() {
		t.Fatalf("status %+v", s)
	}
	t.Log(logs.Len())
}

// A boot storm throttles a node for longer than the SDK's default five
// attempts: the source keeps retrying while its context allows.
func TestSDKRetriesThrottlingUntilContextEnds(t *testing.T) {
	_, ecr := awsEmulators(t)
	src, err := newSDKSource(context.Background(), 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := config.NodeRegistry("210987654321", "eu-central-1")
	ecr.Throttle(12)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := src.Token(ctx, reg); err != nil || ecr.Calls("") != 13 {
		t.Fatalf("after 12 throttles: %v, %d calls (want 13)", err, ecr.Calls(""))
	}
	ecr.Throttle(1 << 30)
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := src.Token(ctx, reg); err == nil || !strings.Contains(err.Error(), "last answer before ecr.timeout") || !strings.Contains(err.Error(), "ThrottlingException") {
		t.Fatalf("endless throttling: %v", err)
	}
	// Unbounded, the retries against endless throttling would never end;
	// the bound is for liveness, not speed.
	if d := time.Since(start); d >= time.Minute {
		t.Fatalf("the context's deadline did not bound the retries: %s", d)
	}
	// Server errors are not a quota: five attempts, then the error. They
	// are counted in another region: an attempt the deadline above cut off
	// may still reach the emulator after this point.
	ecr.Throttle(0)
	ecr.Fail(100)
	other, _ := config.NodeRegistry("210987654321", "eu-west-1")
	if _, err := src.Token(context.Background(), other); err == nil || !strings.Contains(err.Error(), "ServerException") || ecr.Calls("eu-west-1") != 5 {
		t.Fatalf("5xx: %v after %d attempts (want 5)", err, ecr.Calls("eu-west-1"))
	}
}
