package credentials

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"
)

// PublicTokenSource gives ECR Public's token. It is apart from TokenSource
// so a scripted source need not know every kind.
type PublicTokenSource interface {
	// PublicToken makes one ecr-public GetAuthorizationToken call.
	PublicToken(ctx context.Context) (Token, error)
}

// publicRegion is the only region the ecr-public API answers in.
const publicRegion = "us-east-1"

func (s *sdkSource) PublicToken(ctx context.Context) (Token, error) {
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
	pw, err := DecodeAuthorizationToken(aws.ToString(d.AuthorizationToken))
	if err != nil {
		return Token{}, fmt.Errorf("ecr-public GetAuthorizationToken: %w", err)
	}
	return Token{Password: pw, ExpiresAt: *d.ExpiresAt}, nil
}
