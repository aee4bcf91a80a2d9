package userdb

import (
	"fmt"
	"strconv"
	"strings"
)

// User is one passwd entry, as far as the agent needs it.
type User struct {
	Name     string
	UID, GID uint32 // GID is the primary group
}

// Group is one group entry, as far as the agent needs it: its members are
// asked with initgroups, never read from the member list (a user's primary
// group does not list them, and directory groups can list thousands).
type Group struct {
	Name string
	GID  uint32
}

// ParsePasswd reads the first line of `getent passwd KEY`:
// name:password:uid:gid:gecos:home:shell.
func ParsePasswd(out string) (User, error) {
	line := firstLine(out)
	f := strings.Split(line, ":")
	if len(f) < 7 || f[0] == "" {
		return User{}, fmt.Errorf("not a passwd entry (name:x:uid:gid:gecos:home:shell): %q", clip(line))
	}
	uid, err := id(f[2])
	if err != nil {
		return User{}, fmt.Errorf("passwd entry %s: uid: %w", f[0], err)
	}
	gid, err := id(f[3])
	if err != nil {
		return User{}, fmt.Errorf("passwd entry %s: gid: %w", f[0], err)
	}
	return User{Name: f[0], UID: uid, GID: gid}, nil
}

// ParseGroup reads the first line of `getent group KEY`:
// name:password:gid:member,member. Only the first three fields are read, so
// a member list cut short by the reader's bound still parses.
func ParseGroup(out string) (Group, error) {
	line := firstLine(out)
	f := strings.SplitN(line, ":", 4)
	if len(f) < 4 || f[0] == "" {
		return Group{}, fmt.Errorf("not a group entry (name:x:gid:members): %q", clip(line))
	}
	gid, err := id(f[2])
	if err != nil {
		return Group{}, fmt.Errorf("group entry %s: gid: %w", f[0], err)
	}
	return Group{Name: f[0], GID: gid}, nil
}

// ParseInitgroups reads `getent initgroups NAME`: the name (padded to 21
// columns) and then the gid of each group NSS lists the user in, besides
// the primary one, ending in a newline. The name is cut off as given, since
// a directory name may hold a space.
func ParseInitgroups(name, out string) ([]uint32, error) {
	line, _, ended := strings.Cut(out, "\n")
	if !ended {
		// Cut short by the reader's bound: the last gid may be half a number.
		return nil, fmt.Errorf("initgroups %s: the answer was cut short (more groups than the agent reads)", name)
	}
	rest, ok := strings.CutPrefix(line, name)
	if !ok {
		return nil, fmt.Errorf("initgroups answered for another name: %q", clip(line))
	}
	var gids []uint32
	for _, f := range strings.Fields(rest) {
		gid, err := id(f)
		if err != nil {
			return nil, fmt.Errorf("initgroups %s: %w", name, err)
		}
		gids = append(gids, gid)
	}
	return gids, nil
}

// id parses a uid or gid; -1 (4294967295) is "no id" everywhere and never
// a real one.
func id(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 1<<32-1 {
		return 0, fmt.Errorf("%q is not an id", clip(s))
	}
	return uint32(n), nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}
