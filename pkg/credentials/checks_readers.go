package credentials

import (
	"context"
	"errors"
	"fmt"

	"github.com/enroot-agent/enroot-agent/internal/userdb"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// readers says who can read the shared credentials file. A user outside
// credentials.group sees only enroot's "Authenticating with user:
// <anonymous>" and a failed import, so verify states the scope plainly,
// with the group as the node's user database (NSS) resolves it: a group
// that resolves to nothing is why no file is written at all.
func (c checker) readers(ctx context.Context) verify.Result {
	cr := c.Config.Credentials
	file := CredentialsFile(cr)
	switch {
	case file == "":
		return verify.Ok("no shared credentials file (credentials.enroot_config_path is empty): each user's enroot reads only their own")
	case cr.Group == "":
		return verify.Ok(fmt.Sprintf("every local user's enroot reads %s (0644 root:root)", file))
	}
	gid, err := (&userdb.DB{}).GID(ctx, cr.Group)
	switch {
	case errors.Is(err, userdb.ErrNotFound):
		return verify.Failf("create the group in the node's user database (getent group "+cr.Group+" must answer: /etc/group, or the directory service through SSSD), or fix credentials.group",
			"credentials.group %s is unknown on this node, so no credentials file is written for anyone", cr.Group)
	case err != nil:
		return verify.Unknownf("check the directory service (sssd) on this node", "cannot resolve credentials.group: %v", err)
	}
	return verify.Ok(fmt.Sprintf("only root and members of group %s (gid %d) read %s (0640); other users' enroot pulls anonymously and fails on a private registry (\"Authenticating with user: <anonymous>\")",
		cr.Group, gid, file))
}
