package credentials

import (
	"context"
	"fmt"
	"os/user"

	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// readers says who can read the shared credentials file. A user outside
// credentials.group sees only enroot's "Authenticating with user:
// <anonymous>" and a failed import, so verify states the scope plainly.
func (c checker) readers(context.Context) verify.Result {
	cr := c.Config.Credentials
	file := CredentialsFile(cr)
	switch {
	case file == "":
		return verify.Ok("no shared credentials file (credentials.enroot_config_path is empty): each user's enroot reads only their own")
	case cr.Group == "":
		return verify.Ok(fmt.Sprintf("every local user's enroot reads %s (0644 root:root)", file))
	}
	members := ""
	if g, err := user.LookupGroup(cr.Group); err == nil {
		members = " (gid " + g.Gid + ")"
	}
	return verify.Ok(fmt.Sprintf("only root and members of group %s%s read %s (0640); other users' enroot pulls anonymously and fails on a private registry (\"Authenticating with user: <anonymous>\")",
		cr.Group, members, file))
}
