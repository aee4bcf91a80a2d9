package credentials

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// configFor is the AWS config a registry's token is asked with: the node's
// own, or for a registry naming role_arn, the credentials of that role
// (STS AssumeRole with the node's credentials, in the registry's region),
// used for that registry's token only. The role's credentials are cached
// and renewed by the SDK before they expire, so a refresh costs one STS
// call per hour at most, not one per token.
func (s *sdkSource) configFor(reg config.Registry) aws.Config {
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
