package awssdk

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/enroot-agent/enroot-agent/internal/awswire"
	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// Serve answers the one request read from in on out, and returns. A
// request it cannot read is answered with why (a protocol of another
// version: the package was upgraded under a running agent), so the agent
// reports that rather than a helper that said nothing. The returned error
// is only for the helper's exit status: the agent reads the answer.
func Serve(ctx context.Context, in io.Reader, out io.Writer) error {
	req, err := awswire.ReadRequest(in)
	if err != nil {
		return errors.Join(err, awswire.WriteAnswer(out, awswire.Answer{Error: err.Error()}))
	}
	if !req.Deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, req.Deadline)
		defer cancel()
	}
	if req.Op != awswire.OpS3Get {
		return awswire.WriteAnswer(out, answer(ctx, req))
	}
	body, ans := OpenS3(ctx, req)
	if err := awswire.WriteAnswer(out, ans); err != nil || body == nil {
		return err
	}
	defer body.Close()
	// The agent wraps a read error with the object's URL, as its own.
	return awswire.WriteBody(out, body, func(err error) string { return err.Error() })
}

// answer makes the call of every op but OpS3Get.
func answer(ctx context.Context, req awswire.Request) awswire.Answer {
	src, err := NewSource(ctx)
	if err != nil {
		return awswire.Answer{Error: err.Error()}
	}
	switch req.Op {
	case awswire.OpToken:
		reg := config.Registry{Region: req.Region, RoleARN: req.RoleARN, FIPS: req.FIPS, DualStack: req.DualStack}
		return tokenAnswer(src.Token(ctx, reg))
	case awswire.OpPublicToken:
		return tokenAnswer(src.PublicToken(ctx))
	case awswire.OpSecret:
		v, err := src.Secret(ctx, req.Store, req.ID)
		if err != nil {
			return awswire.Answer{Error: err.Error(), Withdrawn: errors.Is(err, awswire.ErrWithdrawn)}
		}
		return awswire.Answer{Value: v.Reveal()}
	case awswire.OpNodeRegistry:
		reg, err := src.NodeRegistry(ctx)
		if err != nil {
			return awswire.Answer{Error: err.Error()}
		}
		return awswire.Answer{Account: reg.Account, Region: reg.Region}
	}
	return awswire.Answer{Error: fmt.Sprintf("the AWS helper has no call %q: is it older than the agent? reinstall the package", req.Op)}
}

func tokenAnswer(tok Token, err error) awswire.Answer {
	if err != nil {
		return awswire.Answer{Error: err.Error()}
	}
	return awswire.Answer{Password: tok.Password.Reveal(), ExpiresAt: tok.ExpiresAt}
}
