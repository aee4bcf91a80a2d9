package images

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/enroot-agent/enroot-agent/internal/rootsock"
)

// peer is who sent a request, as the kernel recorded it when they
// connected: never what the request says.
type peer struct {
	uid, gid uint32
	// groups are the supplementary groups (SO_PEERGROUPS); nil when the
	// kernel cannot say (before Linux 4.13), and the node's user database
	// is asked instead.
	groups []uint32
	pid    int
}

// readPeer reads the connecting process's credentials from the socket, once,
// when the connection is accepted.
func readPeer(c net.Conn) (peer, error) {
	cred, err := rootsock.PeerCred(c)
	if err != nil {
		return peer{}, err
	}
	p := peer{uid: cred.Uid, gid: cred.Gid, pid: int(cred.Pid)}
	if groups, err := rootsock.PeerGroups(c); err == nil {
		p.groups = groups
	}
	return p, nil
}

// authorize limits the cache to the users who could pull with the agent's
// credentials anyway. The daemon imports with those credentials, so with
// credentials.group set, serving (or importing for) a user outside the
// group would hand them images the shared file is closed to.
//
// Membership is the peer's own groups as the kernel holds them, the very
// ones that decide whether its enroot can read the 0640 credentials file:
// a user added to the group in the directory is served from their next
// login on, as their enroot is. The group's name is resolved through the
// node's NSS (userdb), so a directory group works.
func (s *Server) authorize(ctx context.Context, p peer) error {
	if s.Group == "" || p.uid == 0 {
		return nil
	}
	ok, err := s.member(ctx, p)
	if err != nil {
		return fmt.Errorf("cannot tell whether uid %d is in credentials.group %s: %w", p.uid, s.Group, err)
	}
	if !ok {
		return fmt.Errorf("uid %d is not in credentials.group %s, whose members alone may use the agent's credentials and its image cache", p.uid, s.Group)
	}
	return nil
}

func (s *Server) member(ctx context.Context, p peer) (bool, error) {
	gid, err := s.groupID(ctx)
	if err != nil {
		return false, err
	}
	groups := p.groups
	if groups == nil {
		u, err := s.Users.User(ctx, strconv.FormatUint(uint64(p.uid), 10))
		if err != nil {
			return false, err
		}
		if groups, err = s.Users.Groups(ctx, u); err != nil {
			return false, err
		}
	}
	return p.gid == uint32(gid) || slices.Contains(groups, uint32(gid)), nil
}

// groupID is credentials.group's gid: the one the cache resolved when it
// started, which its files and directories carry (so membership and file
// access agree, and no request waits on the node's directory for it), or a
// lookup (cached for a minute) without a cache.
func (s *Server) groupID(ctx context.Context) (int, error) {
	if s.Cache != nil && s.Cache.Store.GID >= 0 {
		return s.Cache.Store.GID, nil
	}
	return s.Users.GID(ctx, s.Group)
}
