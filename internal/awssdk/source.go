package awssdk

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
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/enroot-agent/enroot-agent/internal/awswire"
	"github.com/enroot-agent/enroot-agent/internal/secret"
	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// Source uses the standard credential chain: on a node that is the
// instance profile through IMDSv2; env and profile credentials work too.
// Endpoints follow the SDK's standard settings (AWS_ENDPOINT_URL_ECR,
// AWS_EC2_METADATA_SERVICE_ENDPOINT), which is how tests reach emulators.
// Its methods are those of pkg/credentials' TokenSource, PublicTokenSource
// and SecretSource, with this package's Token: the helper links none of
// the agent's credentials code (the boot-storm benchmark adapts it).
type Source struct {
	cfg        aws.Config
	maxBackoff time.Duration // between the SDK's retries of one call

	mu    sync.Mutex
	roles map[string]*aws.CredentialsCache // region+role -> assumed credentials
}

// NewSource loads the default AWS config. Each call's throttling and 5xx
// answers are retried by callRetryer (the SDK's standard jittered
// exponential backoff); the refresher backs off further between refreshes.
// Adaptive mode was not chosen: its client-side rate limiter only paces one
// process, and each node makes a single call per region per refresh.
func NewSource(ctx context.Context) (*Source, error) {
	return newSource(ctx, throttleMaxBackoff)
}

// throttleMaxBackoff caps the wait between two attempts of one call. A
// throttled node waits 1-2s, 2-4s, then 4-8s between attempts until
// ecr.timeout: a longer cap leaves the quota idle while throttled nodes
// sleep (2,000 nodes at 200 burst + 100/s: 20 s gave 1.85x the ideal time),
// a shorter one only adds throttled calls (BENCHMARKS.md, boot storm).
const throttleMaxBackoff = 8 * time.Second

func newSource(ctx context.Context, maxBackoff time.Duration) (*Source, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return &Source{cfg: cfg, maxBackoff: maxBackoff}, nil
}

// Token is a registry password and its expiry.
type Token struct {
	Password  secret.Secret
	ExpiresAt time.Time
}

// Token makes one GetAuthorizationToken call for reg's region.
func (s *Source) Token(ctx context.Context, reg config.Registry) (Token, error) {
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
	pw, err := decodeAuthorizationToken(aws.ToString(d.AuthorizationToken))
	if err != nil {
		return Token{}, fmt.Errorf("ecr GetAuthorizationToken in %s: %w", reg.Region, err)
	}
	return Token{Password: pw, ExpiresAt: *d.ExpiresAt}, nil
}

// decodeAuthorizationToken turns base64("AWS:<password>") into the password.
// Its errors never quote the input: it is a credential.
func decodeAuthorizationToken(b64 string) (secret.Secret, error) {
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

// NodeRegistry names this instance's own account registry in its region.
func (s *Source) NodeRegistry(ctx context.Context) (config.Registry, error) {
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

// publicRegion is the only region the ecr-public API answers in.
const publicRegion = "us-east-1"

// PublicToken makes one ecr-public GetAuthorizationToken call.
func (s *Source) PublicToken(ctx context.Context) (Token, error) {
	retryer := newCallRetryer(s.maxBackoff)
	client := ecrpublic.NewFromConfig(s.cfg, func(o *ecrpublic.Options) {
		o.Region = publicRegion
		o.Retryer = retryer
	})
	out, err := client.GetAuthorizationToken(ctx, &ecrpublic.GetAuthorizationTokenInput{})
	if err != nil {
		return Token{}, fmt.Errorf("ecr-public GetAuthorizationToken in %s: %w", publicRegion, err)
	}
	d := out.AuthorizationData
	if d == nil || d.ExpiresAt == nil {
		return Token{}, fmt.Errorf("ecr-public GetAuthorizationToken: answer holds no authorization data or no expiry")
	}
	pw, err := decodeAuthorizationToken(aws.ToString(d.AuthorizationToken))
	if err != nil {
		return Token{}, fmt.Errorf("ecr-public GetAuthorizationToken: %w", err)
	}
	return Token{Password: pw, ExpiresAt: *d.ExpiresAt}, nil
}

// configFor is the AWS config a registry's token is asked with: the node's
// own, or for a registry naming role_arn, the credentials of that role
// (STS AssumeRole with the node's credentials, in the registry's region),
// used for that registry's token only. The role's credentials are cached
// for the Source's life and renewed by the SDK before they expire; the AWS
// helper makes one call per process, so there each token call assumes the
// role again (one STS call per refresh, every six hours by default).
func (s *Source) configFor(reg config.Registry) aws.Config {
	if reg.RoleARN == "" {
		return s.cfg
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.roles == nil {
		s.roles = map[string]*aws.CredentialsCache{}
	}
	key := reg.Region + " " + reg.RoleARN
	creds, ok := s.roles[key]
	if !ok {
		client := sts.NewFromConfig(s.cfg, func(o *sts.Options) { o.Region = reg.Region })
		creds = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(client, reg.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			// CloudTrail in the registry's account names the puller.
			o.RoleSessionName = "enroot-agent"
		}))
		s.roles[key] = creds
	}
	cfg := s.cfg.Copy()
	cfg.Credentials = creds
	return cfg
}

// Secret returns a registry's static secret, read with the node's role, or
// an error wrapping awswire.ErrWithdrawn when the store says the
// secret no longer exists.
func (s *Source) Secret(ctx context.Context, store, id string) (secret.Secret, error) {
	region, err := s.storeRegion(ctx, id)
	if err != nil {
		return secret.Secret{}, err
	}
	switch store {
	case "secretsmanager":
		c := secretsmanager.NewFromConfig(s.cfg, func(o *secretsmanager.Options) { o.Region = region })
		out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		var nf *smtypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			return secret.Secret{}, fmt.Errorf("secretsmanager GetSecretValue: %w", awswire.ErrWithdrawn)
		}
		if err != nil {
			return secret.Secret{}, fmt.Errorf("secretsmanager GetSecretValue: %w", err)
		}
		return secret.New(aws.ToString(out.SecretString)), nil
	case "ssm":
		c := ssm.NewFromConfig(s.cfg, func(o *ssm.Options) { o.Region = region })
		out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(id), WithDecryption: aws.Bool(true)})
		var nf *ssmtypes.ParameterNotFound
		if errors.As(err, &nf) {
			return secret.Secret{}, fmt.Errorf("ssm GetParameter: %w", awswire.ErrWithdrawn)
		}
		if err != nil || out.Parameter == nil {
			return secret.Secret{}, fmt.Errorf("ssm GetParameter: %w", err)
		}
		return secret.New(aws.ToString(out.Parameter.Value)), nil
	}
	return secret.Secret{}, fmt.Errorf("unknown secret store %q", store)
}

// storeRegion is the ARN's region, else the SDK's configured one, else the
// node's own from IMDS: a secret named without an ARN lives where the node does.
func (s *Source) storeRegion(ctx context.Context, id string) (string, error) {
	if strings.HasPrefix(id, "arn:") {
		if parts := strings.Split(id, ":"); len(parts) > 3 && parts[3] != "" {
			return parts[3], nil
		}
	}
	if s.cfg.Region != "" {
		return s.cfg.Region, nil
	}
	out, err := imds.NewFromConfig(s.cfg).GetRegion(ctx, &imds.GetRegionInput{})
	if err != nil {
		return "", fmt.Errorf("no AWS region for the secret store: name the secret by ARN, or set AWS_REGION (IMDS: %w)", err)
	}
	return out.Region, nil
}
