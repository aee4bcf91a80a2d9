package images

import (
	"context"
	"strings"
	"testing"
)

// With credentials.group, the cache serves root and the group's members
// only, by the groups the kernel recorded for the peer: nobody (primary
// group nogroup) is served under nogroup, refused under users unless its
// connection carries users (gid 100) as a supplementary group. Without the
// kernel's word (groups nil) the node's user database decides.
func TestAuthorizeFollowsCredentialsGroup(t *testing.T) {
	nobody := peer{uid: 65534, gid: 65534, groups: []uint32{}}
	for _, c := range []struct {
		group string
		p     peer
		ok    bool
	}{
		{"", nobody, true},
		{"users", peer{uid: 0, gid: 0}, true},
		{"nogroup", nobody, true},
		{"65534", nobody, true},
		{"users", nobody, false},
		{"users", peer{uid: 65534, gid: 65534, groups: []uint32{4, 100}}, true},
		{"users", peer{uid: 65534, gid: 65534}, false}, // getent: nobody is in no group
		{"nogroup", peer{uid: 65534, gid: 65534}, true},
	} {
		err := (&Server{Group: c.group}).authorize(context.Background(), c.p)
		if (err == nil) != c.ok {
			t.Errorf("group %q peer %+v: %v, want ok=%v", c.group, c.p, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "uid 65534 is not in credentials.group users") {
			t.Errorf("error does not say why: %v", err)
		}
	}
	err := (&Server{Group: "no-such-group-here"}).authorize(context.Background(), nobody)
	if err == nil || !strings.Contains(err.Error(), "cannot tell whether uid 65534 is in credentials.group no-such-group-here: group no-such-group-here: not found") {
		t.Errorf("unknown group: %v", err)
	}
}
