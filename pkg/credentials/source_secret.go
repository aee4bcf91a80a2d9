package credentials

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/enroot-agent/enroot-agent/internal/secret"
)

// SecretSource reads a registry's static secret with the node's role.
type SecretSource interface {
	// Secret returns the value, or an error wrapping ErrWithdrawn when the
	// store says the secret no longer exists.
	Secret(ctx context.Context, store, id string) (secret.Secret, error)
}

// ErrWithdrawn means the secret was deleted from its store: its lines are
// removed at once rather than served until secrets.max_age.
var ErrWithdrawn = errors.New("the secret no longer exists in its store")

func (s *sdkSource) Secret(ctx context.Context, store, id string) (secret.Secret, error) {
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
			return secret.Secret{}, fmt.Errorf("secretsmanager GetSecretValue: %w", ErrWithdrawn)
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
			return secret.Secret{}, fmt.Errorf("ssm GetParameter: %w", ErrWithdrawn)
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
func (s *sdkSource) storeRegion(ctx context.Context, id string) (string, error) {
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
