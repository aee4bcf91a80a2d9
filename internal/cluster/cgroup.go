package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Filesystem magics of statfs(2).
const (
	cgroup2Magic = 0x63677270
	cgroup1Magic = 0x27e0eb
)

// cgroupRoots are the hierarchies a node is given its own cgroup in, so
// that nodes do not share one: on a host whose /sys/fs/cgroup is a tmpfs of
// v1 hierarchies, the name=systemd one and the unified v2 one (the layout
// systemd-nspawn reads to set up the node's own systemd); on a pure v2
// host, /sys/fs/cgroup itself.
func cgroupRoots() ([]string, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/cgroup", &st); err != nil {
		return nil, fmt.Errorf("statfs /sys/fs/cgroup: %w", err)
	}
	if st.Type == cgroup2Magic {
		return []string{"/sys/fs/cgroup"}, nil
	}
	var roots []string
	for _, d := range []string{"/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"} {
		if err := syscall.Statfs(d, &st); err == nil && (st.Type == cgroup1Magic || st.Type == cgroup2Magic) {
			roots = append(roots, d)
		}
	}
	if len(roots) == 0 {
		return nil, errors.New("neither /sys/fs/cgroup/systemd nor /sys/fs/cgroup/unified is a cgroup hierarchy: " +
			"systemd-nspawn needs one to boot a node")
	}
	return roots, nil
}

// makeCgroups creates name under every root and returns the directories.
func makeCgroups(name string) ([]string, error) {
	roots, err := cgroupRoots()
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, r := range roots {
		d := filepath.Join(r, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			removeCgroups(dirs)
			return nil, fmt.Errorf("cgroup for node: %w", err)
		}
		dirs = append(dirs, d)
	}
	return dirs, nil
}

// removeCgroups kills every process left in the cgroups (cgroup.kill on
// v2, SIGKILL to each listed pid on v1), waits until they are empty and
// removes them, children first. Missing ones are fine.
func removeCgroups(dirs []string) error {
	var errs []error
	for _, d := range dirs {
		if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup.kill"), []byte("1"), 0); err != nil {
			for _, pid := range cgroupPids(d) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		deadline := time.Now().Add(20 * time.Second)
		for len(cgroupPids(d)) > 0 && time.Now().Before(deadline) {
			for _, pid := range cgroupPids(d) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if pids := cgroupPids(d); len(pids) > 0 {
			errs = append(errs, fmt.Errorf("cgroup %s still has processes %v", d, pids))
			continue
		}
		errs = append(errs, rmdirTree(d))
	}
	return errors.Join(errs...)
}

// cgroupPids lists the processes in d and every cgroup below it.
func cgroupPids(d string) []int {
	var pids []int
	_ = filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.IsDir() {
			return nil
		}
		data, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

// rmdirTree removes an empty cgroup tree, deepest first (cgroup
// directories are removed with rmdir, never by unlinking their files).
func rmdirTree(d string) error {
	var dirs []string
	_ = filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, p := range dirs {
		if err := syscall.Rmdir(p); err != nil && !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("rmdir %s: %w", p, err)
		}
	}
	return nil
}

// plannedCgroups are the directories makeCgroups(name) creates, for the
// record that lets a later run clean up after a killed one.
func plannedCgroups(name string) []string {
	roots, _ := cgroupRoots()
	var dirs []string
	for _, r := range roots {
		dirs = append(dirs, filepath.Join(r, name))
	}
	return dirs
}
