package userdb

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParsePasswd(t *testing.T) {
	u, err := ParsePasswd("alice@corp.example.com:*:1668601103:1668600513:Alice Liddell:/home/alice:/bin/bash\n")
	if err != nil || u != (User{Name: "alice@corp.example.com", UID: 1668601103, GID: 1668600513}) {
		t.Fatalf("%+v, %v", u, err)
	}
	for _, bad := range []string{"", "\n", "alice:x:1000:1000", "alice:x:-1:1000:::", "alice:x:1000:4294967295:::", ":x:1:1:::", "alice:x:1e3:1:::"} {
		if _, err := ParsePasswd(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseGroup(t *testing.T) {
	for in, want := range map[string]Group{
		"dirhpc:x:47000:dirann,dirimp\n":       {"dirhpc", 47000},
		"users:x:100:\n":                       {"users", 100},
		"domain users:*:513:a,b,c,d,e,f,g,h":   {"domain users", 513}, // AD names hold spaces
		"big:x:9:" + strings.Repeat("m,", 1e5): {"big", 9},
	} {
		if g, err := ParseGroup(in); err != nil || g != want {
			t.Errorf("%.40q: %+v, %v", in, g, err)
		}
	}
	for _, bad := range []string{"", "users:x:100", "users:x:abc:", ":x:1:"} {
		if _, err := ParseGroup(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseInitgroups(t *testing.T) {
	for _, c := range []struct {
		name, out string
		want      []uint32
	}{
		{"dirann", "dirann                47000 100\n", []uint32{47000, 100}},
		{"root", "root                 \n", nil},
		{"john smith", "john smith            513 1001\n", []uint32{513, 1001}},
	} {
		got, err := ParseInitgroups(c.name, c.out)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%q: %v, %v", c.out, got, err)
		}
	}
	if _, err := ParseInitgroups("bob", "alice 1 2\n"); err == nil {
		t.Error("an answer for another name was accepted")
	}
	if _, err := ParseInitgroups("bob", "bob 1 x\n"); err == nil {
		t.Error("a gid that is not a number was accepted")
	}
	if _, err := ParseInitgroups("bob", "bob 1 2 34"); err == nil {
		t.Error("an answer cut short (no newline) was accepted: its last gid may be half of one")
	}
}

// The real getent on this machine's files backend: a name and a number,
// both ways, and an unknown name is ErrNotFound.
func TestRealGetent(t *testing.T) {
	db := &DB{}
	ctx := context.Background()
	u, err := db.User(ctx, "nobody")
	if err != nil || u.UID != 65534 || u.Name != "nobody" {
		t.Fatalf("nobody: %+v, %v", u, err)
	}
	if u, err := db.User(ctx, "0"); err != nil || u.Name != "root" {
		t.Fatalf("uid 0: %+v, %v", u, err)
	}
	if g, err := db.Group(ctx, "users"); err != nil || g.GID != 100 {
		t.Fatalf("users: %+v, %v", g, err)
	}
	groups, err := db.Groups(ctx, User{Name: "root", UID: 0, GID: 0})
	if err != nil || len(groups) == 0 || groups[0] != 0 {
		t.Fatalf("root's groups: %v, %v", groups, err)
	}
	_, err = db.Group(ctx, "no-such-group-here")
	if !errors.Is(err, ErrNotFound) || err.Error() != "group no-such-group-here: not found in the node's user database" {
		t.Fatalf("unknown group: %v", err)
	}
	if n, err := db.GID(ctx, "4242"); err != nil || n != 4242 {
		t.Fatalf("a number is taken as it is: %d, %v", n, err)
	}
}

// fakeGetent is a getent that counts its runs and answers one group, so
// the cache and the deadline can be seen.
func fakeGetent(t *testing.T, body string) (string, func() int) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	script := "#!/bin/sh\necho x >> " + runs + "\n" + body + "\n"
	bin := filepath.Join(dir, "getent")
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, func() int { data, _ := os.ReadFile(runs); return strings.Count(string(data), "x") }
}

func TestCacheKeepsAnswersForTTL(t *testing.T) {
	bin, runs := fakeGetent(t, `case "$3" in hpc) echo "hpc:x:500:";; *) exit 2;; esac`)
	now := time.Unix(1000, 0)
	db := &DB{Getent: bin, TTL: time.Minute, Now: func() time.Time { return now }}
	ctx := context.Background()
	for range 3 {
		if g, err := db.Group(ctx, "hpc"); err != nil || g.GID != 500 {
			t.Fatal(g, err)
		}
		if _, err := db.Group(ctx, "other"); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
	}
	if runs() != 2 {
		t.Fatalf("%d runs, want one per key", runs())
	}
	now = now.Add(time.Minute)
	_, _ = db.Group(ctx, "hpc")
	if runs() != 3 {
		t.Fatalf("%d runs: an answer past its TTL must be asked again", runs())
	}
}

func TestSlowDirectoryTimesOutAndIsNotCached(t *testing.T) {
	bin, runs := fakeGetent(t, "exec sleep 30")
	db := &DB{Getent: bin, Timeout: 200 * time.Millisecond}
	for range 2 {
		_, err := db.Group(context.Background(), "hpc")
		if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no answer within 200ms (is the directory service, e.g. sssd, up?)") {
			t.Fatalf("%v", err)
		}
	}
	if runs() != 2 {
		t.Fatalf("%d runs: a failure must not be cached", runs())
	}
}

func TestOutputIsBounded(t *testing.T) {
	bin, _ := fakeGetent(t, `printf 'big:x:9:'; head -c 5000000 /dev/zero | tr '\0' m; echo`)
	if g, err := (&DB{Getent: bin}).Group(context.Background(), "big"); err != nil || g.GID != 9 {
		t.Fatalf("%+v, %v", g, err)
	}
}
