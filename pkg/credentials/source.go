package credentials

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/enroot-agent/enroot-agent/internal/secret"
	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// Token is one region's registry password: ECR makes it valid for every
// registry in that region that the caller may pull from.
type Token struct {
	// Login is the netrc login; "" means AWS (every ECR kind).
	Login     string
	Password  secret.Secret
	ExpiresAt time.Time
}

// TokenSource is the narrow edge to AWS. The real one is the SDK; scheduler
// tests plug in a scripted one.
type TokenSource interface {
	// Token makes one GetAuthorizationToken call for reg's region.
	Token(ctx context.Context, reg config.Registry) (Token, error)
	// NodeRegistry names this instance's own account registry in its region.
	NodeRegistry(ctx context.Context) (config.Registry, error)
}

// sdkSource uses the standard credential chain: on a node that is the
// instance profile through IMDSv2; env and profile credentials work too.
// Endpoints follow the SDK's standard settings (AWS_ENDPOINT_URL_ECR,
// AWS_EC2_METADATA_SERVICE_ENDPOINT), which is how tests reach emulators.
type sdkSource struct {
	cfg        aws.Config
	maxBackoff time.Duration // between the SDK's retries of one call

	mu    sync.Mutex
	roles map[string]*aws.CredentialsCache // region+role -> assumed credentials
}

// NewSDKSource loads the default AWS config. Each call's throttling and 5xx
// answers are retried by callRetryer (the SDK's standard jittered
// exponential backoff); the refresher backs off further between refreshes.
// Adaptive mode was not chosen: its client-side rate limiter only paces one
// process, and each node makes a single call per region per refresh.
func NewSDKSource(ctx context.Context) (TokenSource, error) {
	return newSDKSource(ctx, throttleMaxBackoff)
}

// throttleMaxBackoff caps the wait between two attempts of one call. A
// throttled node waits 1-2s, 2-4s, then 4-8s between attempts until
// ecr.timeout: a longer cap leaves the quota idle while throttled nodes
// sleep (2,000 nodes at 200 burst + 100/s: 20 s gave 1.85x the ideal time),
// a shorter one only adds throttled calls (BENCHMARKS.md, boot storm).
const throttleMaxBackoff = 8 * time.Second

func newSDKSource(ctx context.Context, maxBackoff time.Duration) (TokenSource, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return &sdkSource{cfg: cfg, maxBackoff: maxBackoff}, nil
}

func (s *sdkSource) Token(ctx context.Context, reg config.Registry) (Token, error) {
	retryer := newCallRetryer(s.maxBackoff)
	client := ecr.NewFromConfig(s.configFor(reg), func(o *ecr.Options) {
		o.Region = reg.Region
		o.Retryer = retryer
		if reg.FIPS {
			o.EndpointOptions.UseFIPSEndpoint = aws.FIPSEndpointStateEnabled
		}
		if reg.DualStack {
			o.EndpointOptions.UseDualStackEndpoint = aws.DualStackEndpointStateEnabled
		}
	})
	out, err := client.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if last := retryer.lastRetried(); err != nil && ctx.Err() != nil && last != nil {
		return Token{}, fmt.Errorf("ecr GetAuthorizationToken in %s: %w (last answer before ecr.timeout: %w)", reg.Region, err, last)
	}
	if err != nil {
		return Token{}, fmt.Errorf("ecr GetAuthorizationToken in %s%s: %w", reg.Region, role(reg), err)
	}
	if len(out.AuthorizationData) == 0 {
		return Token{}, fmt.Errorf("ecr GetAuthorizationToken in %s: answer holds no authorization data", reg.Region)
	}
	d := out.AuthorizationData[0]
	if d.ExpiresAt == nil {
		return Token{}, fmt.Errorf("ecr GetAuthorizationToken in %s: answer has no expiry", reg.Region)
	}
	pw, err := DecodeAuthorizationToken(aws.ToString(d.AuthorizationToken))
	if err != nil {
		return Token{}, fmt.Errorf("ecr GetAuthorizationToken in %s: %w", reg.Region, err)
	}
	return Token{Password: pw, ExpiresAt: *d.ExpiresAt}, nil
}

// DecodeAuthorizationToken turns base64("AWS:<password>") into the password.
// Its errors never quote the input: it is a credential.
func DecodeAuthorizationToken(b64 string) (secret.Secret, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return secret.Secret{}, errors.New("authorization token is not base64")
	}
	user, pw, ok := strings.Cut(string(raw), ":")
	switch {
	case !ok || user != "AWS":
		return secret.Secret{}, errors.New(`authorization token is not "AWS:<password>"`)
	case pw == "" || strings.ContainsAny(pw, " \t\r\n\"#"):
		// It goes on one netrc line: whitespace or quotes would break it.
		return secret.Secret{}, errors.New("authorization token's password is empty or holds characters a netrc line cannot carry")
	}
	return secret.New(pw), nil
}

func (s *sdkSource) NodeRegistry(ctx context.Context) (config.Registry, error) {
	doc, err := imds.NewFromConfig(s.cfg).GetInstanceIdentityDocument(ctx, &imds.GetInstanceIdentityDocumentInput{})
	if err != nil {
		return config.Registry{}, fmt.Errorf("ecr.registries is empty and the instance identity document (IMDSv2) is unavailable: %w", err)
	}
	reg, err := config.NodeRegistry(doc.AccountID, doc.Region)
	if err != nil {
		return config.Registry{}, fmt.Errorf("instance identity document: %w", err)
	}
	return reg, nil
}

// role names the assumed role in an error, so an AccessDenied says whose.
func role(reg config.Registry) string {
	if reg.RoleARN == "" {
		return ""
	}
	return " as " + reg.RoleARN
}
