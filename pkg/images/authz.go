package images

import (
	"fmt"
	"os/user"
	"slices"
	"strconv"
)

// authorize limits the cache to the users who could pull with the agent's
// credentials anyway. The daemon imports with those credentials, so with
// credentials.group set, serving (or importing for) a user outside the
// group would hand them images the shared file is closed to.
func (s *Server) authorize(uid uint32) error {
	if s.Group == "" || uid == 0 {
		return nil
	}
	ok, err := member(uid, s.Group)
	if err != nil {
		return fmt.Errorf("cannot tell whether uid %d is in credentials.group %s: %w", uid, s.Group, err)
	}
	if !ok {
		return fmt.Errorf("uid %d is not in credentials.group %s, whose members alone may use the agent's credentials and its image cache", uid, s.Group)
	}
	return nil
}

// member reports whether uid has group among its primary and supplementary
// groups, as the node's user database says.
func member(uid uint32, group string) (bool, error) {
	g, err := user.LookupGroup(group)
	if err != nil {
		if _, nerr := strconv.Atoi(group); nerr != nil {
			return false, err
		}
		g = &user.Group{Gid: group}
	}
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return false, err
	}
	gids, err := u.GroupIds()
	if err != nil {
		return false, err
	}
	return u.Gid == g.Gid || slices.Contains(gids, g.Gid), nil
}
