package images

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/imageref"
	"github.com/enroot-agent/enroot-agent/pkg/importer"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// An images.dir that a user could swap (issue finding 7) is refused at
// start and fails the image-cache-dir check, with the fix: a parent owned
// by a user, a 1777 directory two levels up, a parent writable by a
// group that is not root's, a user's symlink on the way.
func TestUntrustedPathsAreRefused(t *testing.T) {
	base := worldDir(t)
	mk := func(path string, mode os.FileMode, uid, gid int) {
		t.Helper()
		if err := os.MkdirAll(path, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, uid, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	mk(filepath.Join(base, "user"), 0o755, 65534, 65534)
	mk(filepath.Join(base, "fsx"), os.ModeSticky|0o777, 0, 0)
	mk(filepath.Join(base, "fsx", "enroot-agent"), 0o755, 0, 0)
	mk(filepath.Join(base, "grp"), 0o775, 0, 100)
	mk(filepath.Join(base, "ok"), 0o755, 0, 0)
	if err := os.Symlink(filepath.Join(base, "ok"), filepath.Join(base, "rootlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(base, "ok"), filepath.Join(base, "userlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(filepath.Join(base, "userlink"), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]string{
		filepath.Join(base, "user", "images"):                "owned by uid 65534",
		filepath.Join(base, "fsx", "enroot-agent", "images"): "writable by every user (mode 1777)",
		filepath.Join(base, "grp", "images"):                 "writable by group 100",
		filepath.Join(base, "userlink", "images"):            "a symlink owned by uid 65534",
		filepath.Join(base, "rootlink", "images"):            "",
		filepath.Join(base, "ok", "new", "images"):           "",
	} {
		err := (&Store{Dir: dir, GID: -1}).Prepare()
		res := dirCheck(context.Background(), dir, "")
		if want == "" {
			if err != nil || res.Status != verify.OK {
				t.Errorf("%s: %v, %s %s", dir, err, res.Status, res.Message)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "fix:") {
			t.Errorf("%s: start: %v, want %q", dir, err, want)
		}
		if res.Status != verify.Fail || !strings.Contains(res.Message, want) || !strings.Contains(res.Fix, "root's") {
			t.Errorf("%s: check %s %q fix %q, want a failure saying %q", dir, res.Status, res.Message, res.Fix, want)
		}
	}
}

// An images.dir no user can reach (issue finding 9: the old default lay in
// the 0700 state_dir) fails the check, where it used to say ok while every
// import failed.
func TestUnreachableDirFailsTheCheck(t *testing.T) {
	state := filepath.Join(worldDir(t), "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(state, "images")
	if err := (&Store{Dir: dir, GID: -1}).Prepare(); err == nil || !strings.Contains(err.Error(), "cannot be passed") {
		t.Fatalf("start: %v", err)
	}
	if res := dirCheck(context.Background(), dir, ""); res.Status != verify.Fail || !strings.Contains(res.Message, "cannot be passed") {
		t.Fatalf("check: %s %s", res.Status, res.Message)
	}
}

// Renew never follows a symlink under .holds (issue finding 7): neither a
// hold that is a symlink to a root-only file nor a digest directory that is
// a symlink to elsewhere.
func TestRenewFollowsNoSymlink(t *testing.T) {
	base := worldDir(t)
	s := &Store{Dir: filepath.Join(base, "cache"), GID: -1}
	if err := s.Prepare(); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(base, "root-only")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	_ = os.Chtimes(secret, old, old)
	d := imageref.Digest("sha256:" + strings.Repeat("ab", 32))
	hdir := filepath.Join(s.Dir, ".holds", d.Encoded())
	if err := os.Mkdir(hdir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(hdir, "n1.0.1.0")); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(base, "elsewhere")
	if err := os.Mkdir(elsewhere, 0o700); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(elsewhere, "n1.0.2.0")
	if err := os.WriteFile(outside, []byte("1 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(outside, old, old)
	if err := os.Symlink(elsewhere, filepath.Join(s.Dir, ".holds", strings.Repeat("cd", 32))); err != nil {
		t.Fatal(err)
	}
	s.Renew("n1")
	for _, p := range []string{secret, outside} {
		st, err := os.Stat(p)
		if err != nil || !st.ModTime().Equal(old) {
			t.Errorf("%s was touched or removed through a symlink: %v", p, err)
		}
	}
}

// credentials.group closes the files too (issue finding 8): the images are
// 0440 root:<group> in 0710 root:<group> directories, so a user outside
// the group can neither list nor read a cached image even knowing its
// digest, while a member can read it. The import user, outside the group
// and unable to read the agent's 0640 root:<group> credentials file
// (finding 9b), still imports: the daemon reads the credentials and
// authenticates to the registry (the real docker-registry, htpasswd), and
// enroot only talks to the front. Files cached before the group was set
// are closed at start, not imported again.
func TestGroupClosesTheFiles(t *testing.T) {
	f := newFakeEnroot(t, 0)
	base := worldDir(t)
	reg := testenv.StartRegistry(t, []string{"registry.test"}, "s3cret-token")
	host := "registry.test:" + reg.Port
	digest, err := reg.PushFileImage(host+"/ml/hello:v1", "s3cret-token", map[string]string{"/etc/greeting": "members only\n"})
	if err != nil {
		t.Fatal(err)
	}
	credDir := filepath.Join(base, "enroot-config")
	if err := os.Mkdir(credDir, 0o750); err != nil {
		t.Fatal(err)
	}
	netrc := filepath.Join(credDir, ".credentials")
	if err := os.WriteFile(netrc, []byte("machine registry.test login AWS password s3cret-token\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{credDir, netrc} {
		if err := os.Chown(p, 0, 100); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("runuser", "-u", "nobody", "--", "cat", netrc).CombinedOutput(); err == nil {
		t.Fatalf("the import user can read the credentials: %s", out)
	}
	// Cached before the group was set: world-readable.
	c := testCache(t, filepath.Join(base, "cache"), "n1")
	c.Registry = &Registry{Netrc: netrc, Transport: reg.Transport()}
	im := imageref.Image{Registry: host, Sep: "#", Repo: "ml/hello"}
	v, err := c.Registry.Verify(context.Background(), im, imageref.Digest(digest))
	if err != nil {
		t.Fatal(err)
	}
	path, err := c.Get(context.Background(), v, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	// credentials.group is set: the store is prepared again (a restart).
	c.Store = &Store{Dir: c.Store.Dir, GID: 100}
	c.Enroot.Group = 100
	if err := c.Store.Prepare(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), v, nil, 0); err != nil || f.count(t) != 1 {
		t.Fatalf("the file cached before the group: %v, %d imports (want it kept, not imported again)", err, f.count(t))
	}
	// A new image is imported by the import user outside the group.
	d2, err := reg.PushFileImage(host+"/ml/other:v1", "s3cret-token", map[string]string{"/etc/greeting": "another\n"})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := c.Registry.Verify(context.Background(), imageref.Image{Registry: host, Sep: "#", Repo: "ml/other"}, imageref.Digest(d2))
	if err != nil {
		t.Fatal(err)
	}
	path2, err := c.Get(context.Background(), v2, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path2} {
		st, _ := os.Stat(p)
		if st.Mode().Perm() != 0o440 {
			t.Errorf("%s: mode %v, want 0440", p, st.Mode())
		}
		if out, err := exec.Command("runuser", "-u", "nobody", "--", "cat", p).CombinedOutput(); err == nil {
			t.Errorf("a user outside credentials.group read %s: %q", p, out)
		}
		if out, err := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--groups=100", "--", "cat", p).CombinedOutput(); err != nil {
			t.Errorf("a member cannot read %s: %v %s", p, err, out)
		}
	}
	if out, err := exec.Command("runuser", "-u", "nobody", "--", "ls", filepath.Join(c.Store.Dir, "sha256")).CombinedOutput(); err == nil {
		t.Errorf("a user outside the group lists the cache: %s", out)
	}
	if res := dirCheck(context.Background(), c.Store.Dir, "100"); res.Status != verify.OK {
		t.Errorf("check: %s %s", res.Status, res.Message)
	}
}

// A path that becomes unsafe while the daemon runs (a parent handed to a
// user) stops the cache at the next upkeep, until it is fixed.
func TestCacheStopsServingWhenThePathTurnsUnsafe(t *testing.T) {
	newFakeEnroot(t, 0)
	reg := newTestRegistry(t)
	_, d := reg.push(t, "ml/hello:v1", "x")
	parent := filepath.Join(worldDir(t), "parent")
	c := testCache(t, filepath.Join(parent, "cache"), "n1")
	s := testServer(t, c)
	req := importer.Request{URI: "docker://" + reg.Host + "#ml/hello:v1", Digest: string(d)}
	if _, err := s.get(context.Background(), req, step(1000, "1"), &Progress{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(parent, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	c.recheck()
	if _, err := s.get(context.Background(), req, step(1000, "2"), &Progress{}, nil); err == nil || !strings.Contains(err.Error(), "not safe") {
		t.Fatalf("served from an unsafe path: %v", err)
	}
	_ = os.Chown(parent, 0, 0)
	c.recheck()
	if _, err := s.get(context.Background(), req, step(1000, "3"), &Progress{}, nil); err != nil {
		t.Fatal(err)
	}
}
