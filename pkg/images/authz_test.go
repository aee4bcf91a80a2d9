package images

import (
	"strings"
	"testing"
)

// With credentials.group, the cache serves root and the group's members
// only: nobody (primary group nogroup) is served under nogroup, refused
// under users.
func TestAuthorizeFollowsCredentialsGroup(t *testing.T) {
	for _, c := range []struct {
		group string
		uid   uint32
		ok    bool
	}{
		{"", 65534, true},
		{"users", 0, true},
		{"nogroup", 65534, true},
		{"users", 65534, false},
	} {
		err := (&Server{Group: c.group}).authorize(c.uid)
		if (err == nil) != c.ok {
			t.Errorf("group %q uid %d: %v, want ok=%v", c.group, c.uid, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "not in credentials.group users") {
			t.Errorf("error does not say why: %v", err)
		}
	}
}
