package realchain

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
)

// Guard records what the real chain may change on this machine's real
// root and puts it back: the packages (Enroot and whatever apt-get pulled in
// for it), the files the agent, Enroot and Pyxis write on a node, the
// namespace sysctls, and the users it created. Its record is kept on disk
// until Restore succeeds, so a run killed half-way is undone by the next.
type Guard struct {
	Packages []string          // installed before (dpkg, any state but not-installed)
	Absent   []string          // hostPaths that did not exist before
	Sysctls  map[string]string // /proc/sys path -> value before
	Users    []string          // users created by the chain
	Dirs     []string          // work dirs of the chain, removed last

	lock *os.File
}

// hostPaths is everything on the real root the chain writes besides
// packages; the agent's state and cache live in the chain's temp dir.
func hostPaths() []string {
	return []string{
		"/etc/enroot", "/etc/sysctl.d/90-enroot-agent.conf", "/etc/tmpfiles.d/enroot-agent.conf",
		"/usr/local/lib/slurm/spank_pyxis.so", "/usr/local/lib/slurm",
		"/run/enroot-agent", "/run/enroot", "/var/enroot", "/run/pyxis", "/etc/apparmor.d/enroot",
		"/var/cache/enroot-agent-images", DefaultImporter, // the image cache at its defaults
		// A stand-in EFA verbs device node the rendezvous test makes, and the
		// /dev/mqueue and /dev/log enroot's restricted /dev binds (systemd
		// makes them on a node; this machine may run no systemd).
		"/dev/infiniband", "/dev/mqueue", "/dev/log",
	}
}

// wasAbsent says whether path, one of hostPaths, did not exist before.
func (g *Guard) wasAbsent(path string) bool {
	for _, p := range g.Absent {
		if p == path {
			return true
		}
	}
	return false
}

// guardedSysctls are the sysctls the agent raises for Enroot, put back at the end.
func guardedSysctls() []string {
	return []string{"/proc/sys/user/max_user_namespaces", "/proc/sys/user/max_mnt_namespaces"}
}

const (
	// Only one real chain at a time on a machine: the test and the demo's
	// test run in parallel packages, and both install Enroot for real.
	hostLockPath = "/run/lock/enroot-agent-real-chain.lock"
	guardRecord  = "/var/tmp/enroot-agent-real-chain.json"
)

// StartGuard waits for the host lock, undoes a killed earlier run, refuses a
// machine that already has Enroot (purging it would remove someone's), and
// records the current state.
func StartGuard() (*Guard, error) {
	if err := os.MkdirAll("/run/lock", 0o755); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(hostLockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		return nil, err
	}
	g := &Guard{lock: lock}
	if err := g.recover(); err != nil {
		g.unlock()
		return nil, err
	}
	if err := g.record(); err != nil {
		g.unlock()
		return nil, err
	}
	return g, nil
}

// recover restores what a killed run recorded before this one looks.
func (g *Guard) recover() error {
	data, err := os.ReadFile(guardRecord)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	old := &Guard{}
	if err := json.Unmarshal(data, old); err != nil {
		return fmt.Errorf("%s: %w (remove it once the host is clean)", guardRecord, err)
	}
	if err := old.undo(); err != nil {
		return fmt.Errorf("undo an earlier real-chain run recorded in %s: %w", guardRecord, err)
	}
	return os.Remove(guardRecord)
}

func (g *Guard) record() error {
	installed, err := dpkgPresent()
	if err != nil {
		return err
	}
	for _, p := range []string{"enroot", "enroot+caps"} {
		if installed[p] {
			return fmt.Errorf("this machine already has the package %s: the real-chain test installs and purges Enroot, "+
				"so it runs only where Enroot is not installed (dpkg -P enroot+caps enroot)", p)
		}
	}
	if _, err := os.Lstat("/etc/enroot"); err == nil {
		return fmt.Errorf("/etc/enroot exists without the enroot package: remove it (the real-chain test writes and removes it)")
	}
	for p := range installed {
		g.Packages = append(g.Packages, p)
	}
	sort.Strings(g.Packages)
	for _, p := range hostPaths() {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			g.Absent = append(g.Absent, p)
		}
	}
	g.Sysctls = map[string]string{}
	for _, p := range guardedSysctls() {
		if v, err := os.ReadFile(p); err == nil {
			g.Sysctls[p] = strings.TrimSpace(string(v))
		}
	}
	return g.save()
}

// AddUser records a user the chain is about to create, for userdel.
func (g *Guard) AddUser(name string) error {
	g.Users = append(g.Users, name)
	return g.save()
}

// AddDir records a work dir of the chain, removed after the users (whose
// homes may be in it).
func (g *Guard) AddDir(dir string) error {
	g.Dirs = append(g.Dirs, dir)
	return g.save()
}

func (g *Guard) save() error {
	data, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(guardRecord, data, 0o600)
}

// Restore undoes the chain's changes and releases the host lock.
func (g *Guard) Restore() error {
	defer g.unlock()
	if err := g.undo(); err != nil {
		return fmt.Errorf("restore the host (record kept in %s): %w", guardRecord, err)
	}
	return os.Remove(guardRecord)
}

func (g *Guard) unlock() {
	if g.lock != nil {
		g.lock.Close() // closing drops the flock
		g.lock = nil
	}
}
