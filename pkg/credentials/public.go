package credentials

import (
	"context"
	"fmt"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"go.uber.org/zap"
)

// refreshPublic keeps ECR Public's token (ecr.public), written for
// public.ecr.aws with login AWS: enroot sends it to the registry's Bearer
// realm, which trades it for a pull token.
func (r *Refresher) refreshPublic(ctx context.Context) error {
	if !r.cfg.ECR.Public {
		return nil
	}
	src, err := r.source(ctx)
	if err != nil {
		return err
	}
	pub, ok := src.(PublicTokenSource)
	if !ok {
		return fmt.Errorf("%s: the token source cannot ask ecr-public", config.PublicHost)
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ECR.Timeout.D())
	defer cancel()
	tok, err := pub.PublicToken(ctx)
	if err == nil && !tok.ExpiresAt.After(r.Now()) {
		err = fmt.Errorf("ecr-public GetAuthorizationToken: the token it returned expired at %s", tok.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if err == nil {
		if err = checkLine(config.PublicHost, "AWS", tok.Password); err != nil {
			err = fmt.Errorf("ecr-public GetAuthorizationToken: %w: refused, not written", err)
		}
	}
	if err != nil {
		r.log.Warn("token refresh failed; serving the last good token until it expires", zap.String("registry", config.PublicHost), zap.Error(err))
		return err
	}
	tok.Login = "AWS"
	r.mu.Lock()
	r.held[config.PublicHost] = tok
	r.mu.Unlock()
	r.log.Info("token refreshed", zap.String("registry", config.PublicHost),
		zap.Time("expires_at", tok.ExpiresAt), zap.String("fingerprint", tok.Password.Fingerprint()))
	return nil
}
