package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// The directory of TestDirectoryUsersAndGroups: a group and users that only
// NSS (libnss-extrausers) knows, as SSSD serves them on a node joined to
// AD/LDAP. dirann and dirimp are in dirhpc, dirbob is not.
var (
	dirGroup = testenv.DirGroup{Name: "dirhpc", GID: 47000, Members: []string{"dirann", "dirimp"}}
	dirAnn   = testenv.DirUser{Name: "dirann", UID: 47001, GID: 47001}
	dirBob   = testenv.DirUser{Name: "dirbob", UID: 47002, GID: 47002}
	dirImp   = testenv.DirUser{Name: "dirimp", UID: 47003, GID: 47003}
)

// With users and a group only a directory serves, the static binary (built
// as the packages build it): credentials.group gives the shared file and
// its directory the directory group's gid, a credentials.files entry is
// owned by a directory user and group, credentials-readers names the gid,
// the image cache serves a directory user in the group and refuses one
// outside it, and imports run as a directory import_user with its
// directory groups (it reads the 0640 credentials file through them).
func TestDirectoryUsersAndGroups(t *testing.T) {
	needRoot(t, "setpriv", "getent")
	testenv.StartDirectory(t, []testenv.DirUser{dirAnn, dirBob, dirImp}, []testenv.DirGroup{dirGroup})
	root := sandbox(t)
	openToOthers(t, root)
	listen := freeAddr(t)
	// images.dir is outside the state dir: the default one is under the
	// 0700 /var/lib/enroot-agent, which the import user cannot reach.
	appendConfig(t, root, `credentials:
  group: dirhpc
  files:
    - {path: /home/dirann/.config/enroot/.credentials, owner: dirann, group: dirhpc, mode: "0640"}
images:
  cache: true
  import_user: dirimp
  dir: /srv/enroot-images
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

	world := worldTraversableDir(t)
	fake := fakeEnrootFor(t, world)
	bin := filepath.Join(world, "enroot-agent")
	if out, err := exec.Command("install", "-m", "0755", testenv.Binary(t), bin).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	a := startAgent(t, root, listen, 0, "PATH="+fake.dir+":"+os.Getenv("PATH"))
	sock := filepath.Join(root, "run/enroot-agent/images.sock")
	if !testenv.Eventually(2*time.Minute, func() bool { _, err := os.Stat(sock); return err == nil }) {
		t.Fatalf("%s never appeared\nagent:\n%s", sock, a.log)
	}

	path, stderr := importAs(t, bin, root, world, fake, dirAnn)
	if !strings.HasPrefix(path, filepath.Join(root, "srv/enroot-images")+"/") || strings.Contains(stderr, "image cache not used") {
		t.Fatalf("dirann (in dirhpc) was not served from the cache: %q\n%s", path, stderr)
	}
	if got := fake.importedBy(t); got != fmt.Sprint(dirImp.UID) {
		t.Fatalf("the cache's import ran as uid %q, want the directory import_user %d\nagent:\n%s", got, dirImp.UID, a.log)
	}
	path, stderr = importAs(t, bin, root, world, fake, dirBob)
	if !strings.Contains(stderr, "image cache not used (uid 47002 is not in credentials.group dirhpc") ||
		path != filepath.Join(world, "pyxis", "47002", "7.0.squashfs") {
		t.Fatalf("dirbob (not in dirhpc) was served or not told why: %q\n%s", path, stderr)
	}
	a.waitLog("image cache refused a user", 30*time.Second)
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
// `digest` prints a digest, and `import` writes a file with squashfs magic
// after reading ENROOT_CONFIG_PATH/.credentials, the agent's 0640 file,
// which only a process holding credentials.group can; it records the uid it
// ran as.
type fakeEnroot struct{ dir, uids string }

func fakeEnrootFor(t *testing.T, world string) fakeEnroot {
	t.Helper()
	f := fakeEnroot{dir: filepath.Join(world, "bin"), uids: filepath.Join(world, "import-uids")}
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.uids, nil, 0o666); err != nil || os.Chmod(f.uids, 0o666) != nil {
		t.Fatal(err)
	}
	script := `#!/bin/sh
case "$1" in
digest) echo sha256:` + strings.Repeat("ab", 32) + ` ;;
import) if [ -n "$ENROOT_CONFIG_PATH" ] && [ -d "$ENROOT_CONFIG_PATH" ]; then
          cat "$ENROOT_CONFIG_PATH/.credentials" >/dev/null || exit 1
        fi
        id -u >> ` + f.uids + `; printf hsqs > "$3" ;;
*) echo "fake enroot: $*" >&2; exit 1 ;;
esac
`
	if err := os.WriteFile(filepath.Join(f.dir, "enroot"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return f
}

// importedBy is the uid of the first import.
func (f fakeEnroot) importedBy(t *testing.T) string {
	data, err := os.ReadFile(f.uids)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	return first
}

// importAs runs Pyxis's side, `enroot-agent importer get URI`, as u with
// the groups a login gives u (setpriv --init-groups asks NSS, as slurmd
// does), and returns the path it printed and its stderr.
func importAs(t *testing.T, bin, root, world string, f fakeEnroot, u testenv.DirUser) (string, string) {
	t.Helper()
	cmd := exec.Command("setpriv", fmt.Sprintf("--reuid=%d", u.UID), fmt.Sprintf("--regid=%d", u.GID), "--init-groups", "--",
		bin, "--root", root, "importer", "get", "docker://123456789012.dkr.ecr.us-east-1.amazonaws.com#ml/hello:v1")
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
