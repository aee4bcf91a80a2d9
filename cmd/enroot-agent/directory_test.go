package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
	"github.com/enroot-agent/enroot-agent/internal/fake/host"
	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// The directory of TestDirectoryUsersAndGroups: groups and users that only
// NSS (libnss-extrausers) knows, as SSSD serves them on a node joined to
// AD/LDAP. dirann and dirimp are in dirhpc, dirbob is not; dirimp is also
// in dirimpx, which only NSS can tell the image cache's import.
var (
	dirGroup = host.DirGroup{Name: "dirhpc", GID: 47000, Members: []string{"dirann", "dirimp"}}
	dirImpX  = host.DirGroup{Name: "dirimpx", GID: 47010, Members: []string{"dirimp"}}
	dirAnn   = host.DirUser{Name: "dirann", UID: 47001, GID: 47001}
	dirBob   = host.DirUser{Name: "dirbob", UID: 47002, GID: 47002}
	dirImp   = host.DirUser{Name: "dirimp", UID: 47003, GID: 47003}
)

// With users and a group only a directory serves, the static binary (built
// as the packages build it): credentials.group gives the shared file and
// its directory the directory group's gid, a credentials.files entry is
// owned by a directory user and group, credentials-readers names the gid,
// the image cache serves a directory user in the group (by the groups the
// kernel recorded for the connection, which setpriv --init-groups got from
// NSS) and refuses one outside it, and imports run as a directory
// import_user with its directory groups.
func TestDirectoryUsersAndGroups(t *testing.T) {
	needRoot(t, "setpriv", "getent")
	testenv.StartDirectory(t, []host.DirUser{dirAnn, dirBob, dirImp}, []host.DirGroup{dirGroup, dirImpX})
	// The cache refuses an images.dir below a directory others can write
	// (t.TempDir is below the 1777 /tmp).
	root := sandboxAt(t, trustedNodeRoot(t))
	listen := freeAddr(t)
	appendConfig(t, root, `credentials:
  group: dirhpc
  files:
    - {path: /home/dirann/.config/enroot/.credentials, owner: dirann, group: dirhpc, mode: "0640"}
images:
  cache: true
  import_user: dirimp
verify:
  listen: `+listen+"\n")
	out, errOut, code := runAgent(t, "--root", root, "apply")
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	shared := filepath.Join(root, "run/enroot-agent/enroot-config")
	for _, c := range []struct {
		path     string
		mode     os.FileMode
		uid, gid uint32
	}{
		{shared, 0o750, 0, dirGroup.GID},
		{filepath.Join(shared, ".credentials"), 0o640, 0, dirGroup.GID},
		{filepath.Join(root, "home/dirann/.config/enroot/.credentials"), 0o640, dirAnn.UID, dirGroup.GID},
	} {
		mode, uid, gid := owner(t, c.path)
		if mode != c.mode || uid != c.uid || gid != c.gid {
			t.Errorf("%s: %04o %d:%d, want %04o %d:%d", c.path, mode, uid, gid, c.mode, c.uid, c.gid)
		}
	}
	report, _, _ := runAgent(t, "--root", root, "verify", "--local")
	if line := lineOf(report, "credentials-readers"); !strings.Contains(line, "✓") || !strings.Contains(line, "members of group dirhpc (gid 47000)") {
		t.Errorf("credentials-readers: %q\n%s", line, report)
	}
	if t.Failed() {
		return
	}

	uri, digest := testenv.PushLoopbackImage(t, "directory users")
	world := worldTraversableDir(t)
	enroot := fakeEnrootFor(t, world, digest)
	bin := filepath.Join(world, "enroot-agent")
	if out, err := exec.Command("install", "-m", "0755", testenv.Binary(t), bin).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	a := startAgent(t, root, listen, 0, "PATH="+enroot.dir+":"+os.Getenv("PATH"))
	sock := filepath.Join(root, "run/enroot-agent/images.sock")
	if !fake.Eventually(2*time.Minute, func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		t.Fatalf("nothing accepts connections on %s\nagent:\n%s", sock, a.log)
	}

	images := filepath.Join(root, "var/cache/enroot-agent-images")
	if mode, uid, gid := owner(t, images); mode != 0o710 || uid != 0 || gid != dirGroup.GID {
		t.Errorf("%s: %04o %d:%d, want 0710 0:%d (closed to users outside dirhpc)", images, mode, uid, gid, dirGroup.GID)
	}
	path, stderr := importAs(t, bin, root, world, enroot, dirAnn, uri)
	if !strings.HasPrefix(path, images+"/") || strings.Contains(stderr, "image cache not used") {
		t.Fatalf("dirann (in dirhpc) was not served from the cache: %q\n%s\nagent:\n%s", path, stderr, a.log)
	}
	uid, groups := enroot.importedBy(t)
	if uid != fmt.Sprint(dirImp.UID) {
		t.Fatalf("the cache's import ran as uid %q, want the directory import_user %d\nagent:\n%s", uid, dirImp.UID, a.log)
	}
	for _, g := range []uint32{dirImp.GID, dirGroup.GID, dirImpX.GID} {
		if !slices.Contains(strings.Fields(groups), fmt.Sprint(g)) {
			t.Errorf("the cache's import ran with groups %q, want %d among them (the import user's NSS groups and credentials.group)", groups, g)
		}
	}
	// Membership is the connection's, not the directory's: dirann in a
	// process that dropped its supplementary groups is refused, as its own
	// enroot could not read the 0640 credentials file either.
	path, stderr = importWith(t, bin, root, world, enroot, dirAnn, uri, "--clear-groups")
	if !strings.Contains(stderr, "image cache not used (uid 47001 is not in credentials.group dirhpc") {
		t.Fatalf("dirann without its groups was served or not told why: %q\n%s", path, stderr)
	}
	path, stderr = importAs(t, bin, root, world, enroot, dirBob, uri)
	if !strings.Contains(stderr, "image cache not used (uid 47002 is not in credentials.group dirhpc") ||
		path != filepath.Join(world, "pyxis", "47002", "7.0.squashfs") {
		t.Fatalf("dirbob (not in dirhpc) was served or not told why: %q\n%s", path, stderr)
	}
	a.waitLog("image cache refused a user", 30*time.Second)
}

// trustedNodeRoot is testenv.NodeRoot on a path only root can change.
func trustedNodeRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/cache", "enroot-agent-dirtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := pkgrepo.MakeNodeRoot(dir, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	return dir
}

func owner(t *testing.T, p string) (os.FileMode, uint32, uint32) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return os.FileMode(st.Mode & 0o777), st.Uid, st.Gid
}

func lineOf(text, word string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, word) {
			return l
		}
	}
	return ""
}

// fakeEnroot stands in for enroot (which a --root sandbox does not have):
// `digest` prints the pushed image's digest, and `import` writes a file
// with squashfs magic after reading ENROOT_CONFIG_PATH/.credentials when
// there is one (the daemon's import: its front's password, the import
// user's own), and records the uid and groups it ran with.
type fakeEnroot struct{ dir, ids string }

func fakeEnrootFor(t *testing.T, world, digest string) fakeEnroot {
	t.Helper()
	f := fakeEnroot{dir: filepath.Join(world, "bin"), ids: filepath.Join(world, "import-ids")}
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.ids, nil, 0o666); err != nil || os.Chmod(f.ids, 0o666) != nil {
		t.Fatal(err)
	}
	script := `#!/bin/sh
case "$1" in
digest) echo ` + digest + ` ;;
import) if [ -n "$ENROOT_CONFIG_PATH" ] && [ -f "$ENROOT_CONFIG_PATH/.credentials" ]; then
          cat "$ENROOT_CONFIG_PATH/.credentials" >/dev/null || exit 1
        fi
        echo "$(id -u):$(id -G)" >> ` + f.ids + `; printf hsqs > "$3" ;;
*) echo "fake enroot: $*" >&2; exit 1 ;;
esac
`
	if err := os.WriteFile(filepath.Join(f.dir, "enroot"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return f
}

// importedBy is the uid and the groups of the first import.
func (f fakeEnroot) importedBy(t *testing.T) (string, string) {
	data, err := os.ReadFile(f.ids)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	uid, groups, _ := strings.Cut(first, ":")
	return uid, groups
}

// importAs runs Pyxis's side, `enroot-agent importer get URI`, as u with
// the groups a login gives u (setpriv --init-groups asks NSS, as slurmd
// does), in job 7's step 0: under a root process named slurmstepd and
// titled as Slurm titles it (this machine's bash under that name), as the
// cache requires of a hold. It returns the path it printed and its stderr.
func importAs(t *testing.T, bin, root, world string, f fakeEnroot, u host.DirUser, uri string) (string, string) {
	return importWith(t, bin, root, world, f, u, uri, "--init-groups")
}

// importWith is importAs with groups, setpriv's option for the groups
// (--init-groups, --clear-groups).
func importWith(t *testing.T, bin, root, world string, f fakeEnroot, u host.DirUser, uri, groups string) (string, string) {
	t.Helper()
	stepd := filepath.Join(world, "slurmstepd")
	if _, err := os.Stat(stepd); err != nil {
		if out, err := exec.Command("install", "-m", "0755", "/bin/bash", stepd).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	// `; exit $?` keeps bash from exec-ing setpriv: the slurmstepd stays
	// the importer's parent.
	cmd := exec.Command(stepd, "-c", `setpriv --reuid="$1" --regid="$2" "$5" -- "$0" --root "$3" importer get "$4"; exit $?`,
		bin, fmt.Sprint(u.UID), fmt.Sprint(u.GID), root, uri, groups)
	cmd.Args[0] = "slurmstepd: [7.0]"
	cmd.Env = []string{"PATH=" + f.dir + ":/usr/bin:/bin", "SLURM_JOB_ID=7", "SLURM_STEP_ID=0", fmt.Sprintf("SLURM_JOB_UID=%d", u.UID),
		"PYXIS_RUNTIME_PATH=" + filepath.Join(world, "pyxis")}
	if err := os.MkdirAll(filepath.Join(world, "pyxis"), 0o777); err != nil || os.Chmod(filepath.Join(world, "pyxis"), 0o777) != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("importer as %s: %v\n%s%s", u.Name, err, out.String(), errb.String())
	}
	return strings.TrimSpace(out.String()), errb.String()
}
