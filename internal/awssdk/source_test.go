package awssdk

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/awswire"
	"github.com/enroot-agent/enroot-agent/internal/fake/aws"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// setEnv replaces the process's AWS_* variables with env, for the test.
func setEnv(t *testing.T, env []string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// awsEmulators points the real SDK at local IMDSv2 and ECR emulators through
// the standard endpoint variables, exactly as on a node.
func awsEmulators(t *testing.T) (*aws.IMDS, *aws.ECR) {
	t.Helper()
	imds := testenv.StartIMDS(t, "210987654321", "eu-central-1")
	ecr := testenv.StartECR(t)
	ecr.AccessKey = imds.AccessKey
	setEnv(t, aws.Env(imds, ecr, t.TempDir()))
	return imds, ecr
}

// A boot storm throttles a node for longer than the SDK's default five
// attempts: the source keeps retrying while its context allows.
func TestSDKRetriesThrottlingUntilContextEnds(t *testing.T) {
	_, ecr := awsEmulators(t)
	src, err := newSource(context.Background(), 5*time.Millisecond)
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

func TestEqualJitterBackoff(t *testing.T) {
	e := equalJitter{max: 8 * time.Second, rand: rand.New(rand.NewPCG(1, 2)).Int64N}
	for attempt, bounds := range map[int][2]time.Duration{
		1: {time.Second, 2 * time.Second}, 2: {2 * time.Second, 4 * time.Second},
		3: {4 * time.Second, 8 * time.Second}, 9: {4 * time.Second, 8 * time.Second},
	} {
		lo, hi := time.Hour, time.Duration(0)
		for i := 0; i < 500; i++ {
			d, _ := e.BackoffDelay(attempt, nil)
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo < bounds[0] || hi > bounds[1] || hi-lo < (bounds[1]-bounds[0])*3/4 {
			t.Errorf("attempt %d: delays %s..%s, want spread over %s..%s", attempt, lo, hi, bounds[0], bounds[1])
		}
	}
}

// The token's password comes out of base64("AWS:<password>"); what cannot
// be a netrc password is refused without quoting it.
func TestDecodeAuthorizationToken(t *testing.T) {
	if pw, err := decodeAuthorizationToken("QVdTOnMzY3JldA=="); err != nil || pw.Reveal() != "s3cret" {
		t.Fatalf("%v", err)
	}
	for in, want := range map[string]string{
		"!!s3cret":                 "authorization token is not base64",
		"czNjcmV0":                 `authorization token is not "AWS:<password>"`, // "s3cret"
		"Qk9COnMzY3JldA==":         `authorization token is not "AWS:<password>"`, // "BOB:s3cret"
		"QVdTOnMzYyByZXQ=":         "authorization token's password is empty or holds characters a netrc line cannot carry",
		"QVdTOg==":                 "authorization token's password is empty or holds characters a netrc line cannot carry",
		"QVdTOnMzY3JldCNjb21tZW50": "authorization token's password is empty or holds characters a netrc line cannot carry",
	} {
		if _, err := decodeAuthorizationToken(in); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %s", in, err, want)
		}
	}
}

const roleARN = "arn:aws:iam::210987654321:role/ecr-pull"

// Every kind of call, in-process: the node's token, a role's, ECR Public's,
// both secret stores, a withdrawn secret.
func TestSourceEveryKind(t *testing.T) {
	_, ecr := awsEmulators(t)
	ecr.AccessKey = ""
	pub := testenv.StartECRPublic(t, "pubtoken1")
	sts := testenv.StartSTS(t, map[string]string{roleARN: "ASIAROLEKEY"})
	stores := testenv.StartSecretStore(t)
	ecr.SetPassword("nodetoken1")
	ecr.SetPasswordFor("ASIAROLEKEY", "roletoken1")
	t.Setenv("AWS_ENDPOINT_URL_ECR_PUBLIC", pub.URL)
	t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", stores.URL)
	t.Setenv("AWS_ENDPOINT_URL_SSM", stores.URL)
	stores.Set("secretsmanager:cluster/ngc", "ngckey1")
	stores.Set("ssm:/cluster/hub", "dckr_pat_1")
	ctx := context.Background()
	src, err := NewSource(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node, err := src.NodeRegistry(ctx)
	if err != nil || node.Host != "210987654321.dkr.ecr.eu-central-1.amazonaws.com" {
		t.Fatalf("node registry %v %v", node, err)
	}
	if tok, err := src.Token(ctx, node); err != nil || tok.Password.Reveal() != "nodetoken1" {
		t.Fatalf("node token: %v", err)
	}
	other, _ := config.ParseRegistry("210987654321.dkr.ecr.eu-west-1.amazonaws.com")
	other.RoleARN = roleARN
	if tok, err := src.Token(ctx, other); err != nil || tok.Password.Reveal() != "roletoken1" || sts.Calls(roleARN) != 1 {
		t.Fatalf("role token: %v (%d AssumeRole calls)", err, sts.Calls(roleARN))
	}
	if tok, err := src.PublicToken(ctx); err != nil || tok.Password.Reveal() != "pubtoken1" {
		t.Fatalf("public token: %v", err)
	}
	if v, err := src.Secret(ctx, "secretsmanager", "cluster/ngc"); err != nil || v.Reveal() != "ngckey1" {
		t.Fatalf("secretsmanager: %v", err)
	}
	if v, err := src.Secret(ctx, "ssm", "/cluster/hub"); err != nil || v.Reveal() != "dckr_pat_1" {
		t.Fatalf("ssm: %v", err)
	}
	stores.Delete("ssm:/cluster/hub")
	if _, err := src.Secret(ctx, "ssm", "/cluster/hub"); !errors.Is(err, awswire.ErrWithdrawn) || err.Error() != "ssm GetParameter: the secret no longer exists in its store" {
		t.Fatalf("withdrawn: %v", err)
	}
}
