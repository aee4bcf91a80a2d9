package userdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// ErrNotFound is the error of a name or id NSS does not know.
var ErrNotFound = errors.New("not found in the node's user database")

// Defaults of a DB's bounds.
const (
	// DefaultTimeout bounds one getent: SSSD answers from its cache in
	// milliseconds, and a directory that is down must not hang the agent.
	DefaultTimeout = 10 * time.Second
	// DefaultTTL is how long an answer (found or not) is kept: a group
	// created in the directory is seen within a minute.
	DefaultTTL = time.Minute
	// maxOutput bounds what one getent may print: a directory group can
	// list thousands of members, of which nothing is read.
	maxOutput = 64 << 10
	// maxEntries bounds the cache; past it, it starts over.
	maxEntries = 1024
)

// DB resolves users and groups through getent. The zero value is ready to
// use; keep one for as long as its answers may be reused. A nil *DB works
// too, with nothing kept.
type DB struct {
	// Getent is the getent executable; "" finds it on PATH.
	Getent string
	// Timeout bounds one lookup and TTL how long an answer is kept; zero
	// means DefaultTimeout and DefaultTTL.
	Timeout, TTL time.Duration
	// Now is the clock of the cache (time.Now when nil).
	Now func() time.Time

	mu    sync.Mutex
	cache map[string]answer
}

type answer struct {
	out     string
	err     error // nil or ErrNotFound: only definite answers are kept
	expires time.Time
}

// User looks up a user by name, or by uid when key is a number.
func (db *DB) User(ctx context.Context, key string) (User, error) {
	out, err := db.getent(ctx, "passwd", key)
	if err != nil {
		return User{}, fmt.Errorf("user %s: %w", key, err)
	}
	u, err := ParsePasswd(out)
	if err != nil {
		return User{}, fmt.Errorf("user %s: getent passwd: %w", key, err)
	}
	return u, nil
}

// Group looks up a group by name, or by gid when key is a number.
func (db *DB) Group(ctx context.Context, key string) (Group, error) {
	out, err := db.getent(ctx, "group", key)
	if err != nil {
		return Group{}, fmt.Errorf("group %s: %w", key, err)
	}
	g, err := ParseGroup(out)
	if err != nil {
		return Group{}, fmt.Errorf("group %s: getent group: %w", key, err)
	}
	return g, nil
}

// Groups is every gid u gets at login (initgroups): its primary group
// first, then each group NSS lists it in.
func (db *DB) Groups(ctx context.Context, u User) ([]uint32, error) {
	out, err := db.getent(ctx, "initgroups", u.Name)
	if err != nil {
		return nil, fmt.Errorf("groups of user %s: %w", u.Name, err)
	}
	gids, err := ParseInitgroups(u.Name, out)
	if err != nil {
		return nil, fmt.Errorf("groups of user %s: getent initgroups: %w", u.Name, err)
	}
	all := []uint32{u.GID}
	for _, g := range gids {
		if g != u.GID {
			all = append(all, g)
		}
	}
	return all, nil
}

// UID is a uid as configured: a number is taken as it is (a file may belong
// to an id no database names), a name is looked up.
func (db *DB) UID(ctx context.Context, key string) (int, error) {
	if n, ok := number(key); ok {
		return n, nil
	}
	u, err := db.User(ctx, key)
	return int(u.UID), err
}

// GID is UID for groups.
func (db *DB) GID(ctx context.Context, key string) (int, error) {
	if n, ok := number(key); ok {
		return n, nil
	}
	g, err := db.Group(ctx, key)
	return int(g.GID), err
}

func number(key string) (int, bool) {
	n, err := strconv.ParseUint(key, 10, 31)
	return int(n), err == nil
}

// getent answers `getent db key` from the cache or by running it.
func (db *DB) getent(ctx context.Context, database, key string) (string, error) {
	if db == nil {
		return (&DB{}).run(ctx, database, key)
	}
	ck := database + "\x00" + key
	now := db.now()
	db.mu.Lock()
	a, ok := db.cache[ck]
	db.mu.Unlock()
	if ok && now.Before(a.expires) {
		return a.out, a.err
	}
	out, err := db.run(ctx, database, key)
	if err == nil || errors.Is(err, ErrNotFound) {
		db.keep(ck, answer{out: out, err: err, expires: now.Add(db.ttl())})
	}
	return out, err
}

func (db *DB) keep(key string, a answer) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.cache == nil || len(db.cache) >= maxEntries {
		db.cache = map[string]answer{}
	}
	db.cache[key] = a
}

// run runs getent once. Exit status 2 is glibc's "no such key".
func (db *DB) run(ctx context.Context, database, key string) (string, error) {
	bin := db.Getent
	if bin == "" {
		p, err := exec.LookPath("getent")
		if err != nil {
			return "", fmt.Errorf("getent not found (glibc's, in libc-bin or glibc-common): %w", err)
		}
		bin = p
	}
	timeout := db.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, database, "--", key)
	var out, errOut capped
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return "", fmt.Errorf("getent %s %s: no answer within %s (is the directory service, e.g. sssd, up?)", database, key, timeout)
	case errors.As(err, &ee) && ee.ExitCode() == 2:
		return "", ErrNotFound
	case err != nil:
		return "", fmt.Errorf("getent %s %s: %v: %s", database, key, err, clip(string(bytes.TrimSpace(errOut.b))))
	}
	return string(out.b), nil
}

func (db *DB) ttl() time.Duration {
	if db.TTL > 0 {
		return db.TTL
	}
	return DefaultTTL
}

func (db *DB) now() time.Time {
	if db.Now != nil {
		return db.Now()
	}
	return time.Now()
}

// capped keeps the first maxOutput bytes written to it and drops the rest
// without failing the writer (getent must not die of a closed pipe).
type capped struct{ b []byte }

func (c *capped) Write(p []byte) (int, error) {
	if room := maxOutput - len(c.b); room > 0 {
		c.b = append(c.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
