package credentials

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/awsproc"
	"github.com/enroot-agent/enroot-agent/internal/awswire"
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

// TokenSource is the narrow edge to AWS. The real one is the AWS helper
// (HelperSource); scheduler tests plug in a scripted one, the boot-storm
// benchmark the SDK in-process (internal/awssdk).
type TokenSource interface {
	// Token makes one GetAuthorizationToken call for reg's region.
	Token(ctx context.Context, reg config.Registry) (Token, error)
	// NodeRegistry names this instance's own account registry in its region.
	NodeRegistry(ctx context.Context) (config.Registry, error)
}

// PublicTokenSource gives ECR Public's token. It is apart from TokenSource
// so a scripted source need not know every kind.
type PublicTokenSource interface {
	// PublicToken makes one ecr-public GetAuthorizationToken call.
	PublicToken(ctx context.Context) (Token, error)
}

// SecretSource reads a registry's static secret with the node's role.
type SecretSource interface {
	// Secret returns the value, or an error wrapping ErrWithdrawn when the
	// store says the secret no longer exists.
	Secret(ctx context.Context, store, id string) (secret.Secret, error)
}

// ErrWithdrawn means the secret was deleted from its store: its lines are
// removed at once rather than served until secrets.max_age. The AWS helper
// says so (awswire.Answer.Withdrawn) with this error's text.
var ErrWithdrawn = awswire.ErrWithdrawn

// HelperSource makes each call in a new AWS helper process (package
// awsproc): the SDK, its credential chain (the instance profile through
// IMDSv2 on a node) and its endpoint settings live there, the agent holds
// none of it between refreshes. It is a TokenSource, PublicTokenSource and
// SecretSource; its errors are the helper's, worded as the SDK calls word
// them.
type HelperSource struct{ Helper awsproc.Helper }

// NewHelperSource runs the helper installed beside the agent.
func NewHelperSource() *HelperSource { return &HelperSource{Helper: awsproc.Beside()} }

// Token makes one GetAuthorizationToken call for reg's region (as its role).
func (h *HelperSource) Token(ctx context.Context, reg config.Registry) (Token, error) {
	what := "ecr GetAuthorizationToken in " + reg.Region
	a, err := h.call(ctx, what, awswire.Request{Op: awswire.OpToken, Region: reg.Region, RoleARN: reg.RoleARN, FIPS: reg.FIPS, DualStack: reg.DualStack})
	if err != nil {
		return Token{}, err
	}
	return tokenOf(what, a)
}

// PublicToken makes one ecr-public GetAuthorizationToken call.
func (h *HelperSource) PublicToken(ctx context.Context) (Token, error) {
	const what = "ecr-public GetAuthorizationToken"
	a, err := h.call(ctx, what, awswire.Request{Op: awswire.OpPublicToken})
	if err != nil {
		return Token{}, err
	}
	return tokenOf(what, a)
}

func tokenOf(what string, a awswire.Answer) (Token, error) {
	if a.Password == "" || a.ExpiresAt.IsZero() {
		return Token{}, fmt.Errorf("%s: the AWS helper's answer holds no token or no expiry", what)
	}
	return Token{Password: secret.New(a.Password), ExpiresAt: a.ExpiresAt}, nil
}

// NodeRegistry reads the instance identity document (IMDSv2).
func (h *HelperSource) NodeRegistry(ctx context.Context) (config.Registry, error) {
	a, err := h.call(ctx, "instance identity document", awswire.Request{Op: awswire.OpNodeRegistry})
	if err != nil {
		return config.Registry{}, err
	}
	reg, err := config.NodeRegistry(a.Account, a.Region)
	if err != nil {
		return config.Registry{}, fmt.Errorf("instance identity document: %w", err)
	}
	return reg, nil
}

// Secret reads store's value of id.
func (h *HelperSource) Secret(ctx context.Context, store, id string) (secret.Secret, error) {
	a, err := h.call(ctx, store, awswire.Request{Op: awswire.OpSecret, Store: store, ID: id})
	if a.Withdrawn && err != nil {
		return secret.Secret{}, withdrawn{err}
	}
	if err != nil {
		return secret.Secret{}, err
	}
	return secret.New(a.Value), nil
}

// withdrawn is the helper's wording of a withdrawal; it is ErrWithdrawn.
type withdrawn struct{ error }

func (w withdrawn) Unwrap() error { return ErrWithdrawn }

// call runs req in a helper. A failed call is the helper's error text; a
// helper that could not run or answered garbage is named with what.
func (h *HelperSource) call(ctx context.Context, what string, req awswire.Request) (awswire.Answer, error) {
	a, err := h.Helper.Call(ctx, req)
	if err != nil {
		return awswire.Answer{}, fmt.Errorf("%s: %w", what, err)
	}
	if a.Error != "" {
		return a, errors.New(a.Error)
	}
	return a, nil
}
