package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

// A directory service on this machine: users and groups that exist only
// through a real NSS module that is not the files backend, as SSSD serves
// them on a ParallelCluster node joined to AD/LDAP. Debian's
// libnss-extrausers serves /var/lib/extrausers/{passwd,group}; adding it to
// nsswitch.conf's passwd and group lines makes every glibc program (getent,
// setpriv, id) see them, while /etc/passwd and /etc/group, all that Go's
// static os/user reads, never name them.

// DirUser is a user the directory serves.
type DirUser struct {
	Name     string
	UID, GID uint32
}

// DirGroup is a group the directory serves, with its members.
type DirGroup struct {
	Name    string
	GID     uint32
	Members []string
}

// Directory is the directory's state on this machine while a test runs.
type Directory struct {
	Users  []DirUser
	Groups []DirGroup

	lock *os.File // nssLockPath, held until Close
}

const (
	// Tests that change nsswitch.conf take this lock: one directory at a
	// time on a machine, whatever the test package.
	nssLockPath   = "/run/lock/enroot-agent-nss.lock"
	nssRecord     = "/var/tmp/enroot-agent-nss.json"
	nsswitchPath  = "/etc/nsswitch.conf"
	extrausersDir = "/var/lib/extrausers"
)

// nssGuard is what StartDirectory changed, kept on disk until it is undone,
// so a test killed half-way is undone by the next one.
type nssGuard struct {
	Nsswitch   string            // nsswitch.conf before
	DirExisted bool              // /var/lib/extrausers existed before
	Files      map[string]string // its passwd, group before ("" absent)
}

// StartDirectory serves users and groups through libnss-extrausers until
// Close puts nsswitch.conf and /var/lib/extrausers back. Names and ids must
// be unknown to the files backend. One directory at a time on a machine:
// it waits for the others' Close.
func StartDirectory(users []DirUser, groups []DirGroup) (*Directory, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("a directory service test needs root: it changes /etc/nsswitch.conf")
	}
	if !nssModulePresent() {
		return nil, errors.New("libnss_extrausers.so.2 not found: install the Debian package libnss-extrausers (scripts/test-deps.sh)")
	}
	lock, err := os.OpenFile(nssLockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		return nil, err
	}
	if err := recoverNSS(); err != nil {
		lock.Close()
		return nil, err
	}
	d := &Directory{Users: users, Groups: groups, lock: lock}
	if err := d.install(); err != nil {
		return nil, errors.Join(err, d.Close())
	}
	if err := d.check(); err != nil {
		return nil, errors.Join(err, d.Close())
	}
	return d, nil
}

// Close puts the host's NSS back and lets the next directory start.
func (d *Directory) Close() error {
	defer d.lock.Close()
	if err := recoverNSS(); err != nil {
		return fmt.Errorf("restore the host's NSS: %w", err)
	}
	return nil
}

func nssModulePresent() bool {
	found, _ := filepath.Glob("/usr/lib*/libnss_extrausers.so.2")
	multiarch, _ := filepath.Glob("/usr/lib/*-linux-gnu/libnss_extrausers.so.2")
	return len(found)+len(multiarch) > 0
}

// install records the host's state, then writes the directory.
func (d *Directory) install() error {
	conf, err := os.ReadFile(nsswitchPath)
	if err != nil {
		return err
	}
	g := nssGuard{Nsswitch: string(conf), Files: map[string]string{}}
	_, err = os.Lstat(extrausersDir)
	g.DirExisted = err == nil
	for _, f := range []string{"passwd", "group"} {
		data, err := os.ReadFile(filepath.Join(extrausersDir, f))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		g.Files[f] = string(data)
	}
	rec, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(nssRecord, rec, 0o600); err != nil {
		return err
	}
	withDir, err := WithExtrausers(string(conf))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(extrausersDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(extrausersDir, "passwd"), []byte(g.Files["passwd"]+d.passwd()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(extrausersDir, "group"), []byte(g.Files["group"]+d.group()), 0o644); err != nil {
		return err
	}
	return replaceFile(nsswitchPath, []byte(withDir))
}

func (d *Directory) passwd() string {
	var b strings.Builder
	for _, u := range d.Users {
		fmt.Fprintf(&b, "%s:x:%d:%d:directory user:/nonexistent:/bin/sh\n", u.Name, u.UID, u.GID)
	}
	return b.String()
}

func (d *Directory) group() string {
	var b strings.Builder
	for _, g := range d.Groups {
		fmt.Fprintf(&b, "%s:x:%d:%s\n", g.Name, g.GID, strings.Join(g.Members, ","))
	}
	return b.String()
}

// check proves the test is about NSS: glibc's getent sees every name, and
// the files Go's static os/user reads name none of them.
func (d *Directory) check() error {
	etc := ""
	for _, f := range []string{"/etc/passwd", "/etc/group"} {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		etc += string(data)
	}
	probe := func(db, name string) error {
		if out, err := exec.Command("getent", db, name).CombinedOutput(); err != nil {
			return fmt.Errorf("getent %s %s after adding extrausers to nsswitch.conf: %v %s", db, name, err, out)
		}
		if regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `:`).MatchString(etc) {
			return fmt.Errorf("%s is in /etc/passwd or /etc/group: pick a name only the directory has", name)
		}
		return nil
	}
	for _, u := range d.Users {
		if err := probe("passwd", u.Name); err != nil {
			return err
		}
	}
	for _, g := range d.Groups {
		if err := probe("group", g.Name); err != nil {
			return err
		}
	}
	return nil
}

// recoverNSS puts back what a record says, and removes the record.
func recoverNSS() error {
	data, err := os.ReadFile(nssRecord)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var g nssGuard
	if err := json.Unmarshal(data, &g); err != nil || g.Nsswitch == "" {
		return fmt.Errorf("%s: unreadable (%v): restore %s by hand, then remove it", nssRecord, err, nsswitchPath)
	}
	if err := replaceFile(nsswitchPath, []byte(g.Nsswitch)); err != nil {
		return err
	}
	if !g.DirExisted {
		if err := os.RemoveAll(extrausersDir); err != nil {
			return err
		}
	} else {
		for f, content := range g.Files {
			p := filepath.Join(extrausersDir, f)
			if content == "" {
				err = os.Remove(p)
			} else {
				err = os.WriteFile(p, []byte(content), 0o644)
			}
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return os.Remove(nssRecord)
}

// replaceFile swaps a host file whole, so no glibc program reads half of it.
func replaceFile(path string, data []byte) error {
	tmp := path + ".enroot-agent-test"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// WithExtrausers adds the extrausers source to the passwd and group lines
// of an nsswitch.conf, after what is there; every other line is kept.
func WithExtrausers(conf string) (string, error) {
	lines := strings.SplitAfter(conf, "\n")
	found := map[string]bool{}
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) == 0 || (f[0] != "passwd:" && f[0] != "group:") {
			continue
		}
		found[f[0]] = true
		if !strings.Contains(l, "extrausers") {
			lines[i] = strings.TrimRight(l, "\n") + " extrausers\n"
		}
	}
	if !found["passwd:"] || !found["group:"] {
		return "", errors.New("nsswitch.conf has no passwd: or group: line to add extrausers to")
	}
	return strings.Join(lines, ""), nil
}
