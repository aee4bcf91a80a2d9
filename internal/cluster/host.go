package cluster

// What a cluster takes of the host and gives back: one cluster at a time,
// a record that lets the next run clean up after a killed one, ports that
// no other listener is handed, and the check that nothing is left.

import (
	"encoding/json"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const (
	clusterLock   = "/run/lock/enroot-agent-cluster.lock"
	clusterRecord = "/var/tmp/enroot-agent-cluster.json"
)

// record is what a run leaves on disk until Close finishes, so that the
// next run cleans up after one that was killed.
type record struct {
	Dir     string
	Cgroups []string
	Mounts  []string
}

// takeHost waits for the machine's cluster lock, undoes a killed run and
// makes the work dir.
func (c *Cluster) takeHost() error {
	if err := os.MkdirAll(filepath.Dir(clusterLock), 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(clusterLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		return err
	}
	c.lock = lock
	if err := recoverKilledRun(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("/var/tmp", "enroot-agent-cluster-")
	if err != nil {
		return err
	}
	c.Dir = dir
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	return c.saveRecord()
}

func recoverKilledRun() error {
	data, err := os.ReadFile(clusterRecord)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("%s: %w (remove it once no test cluster runs)", clusterRecord, err)
	}
	if err := removeCgroups(r.Cgroups); err != nil {
		return fmt.Errorf("stop the nodes of a killed cluster run (%s): %w", clusterRecord, err)
	}
	for _, m := range r.Mounts {
		if err := unmount(m); err != nil {
			return fmt.Errorf("a killed cluster run (%s): %w", clusterRecord, err)
		}
	}
	if r.Dir != "" {
		if err := os.RemoveAll(r.Dir); err != nil {
			return err
		}
	}
	return os.Remove(clusterRecord)
}

func (c *Cluster) saveRecord() error {
	r := record{Dir: c.Dir}
	for _, n := range c.Nodes() {
		r.Cgroups = append(r.Cgroups, plannedCgroups(n.cgname)...)
		r.Mounts = append(r.Mounts, n.Root)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return os.WriteFile(clusterRecord, data, 0o600)
}

// freePorts finds n distinct free TCP ports on 127.0.0.1 below the
// kernel's ephemeral range, so that no listener bound to port 0 later (the
// stand-ins', a client's) can be handed one of them before the node's
// daemon binds it.
func freePorts(n int) ([]int, error) {
	low := 32768
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	const base = 10000
	if low <= base+n {
		return nil, fmt.Errorf("the ephemeral port range starts at %d: no room for the cluster's ports below it", low)
	}
	var ports []int
	seen := map[int]bool{}
	for tries := 0; len(ports) < n && tries < 1000; tries++ {
		p := base + mathrand.IntN(low-base)
		if seen[p] {
			continue
		}
		seen[p] = true
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		ln.Close()
		ports = append(ports, p)
	}
	if len(ports) < n {
		return nil, fmt.Errorf("found only %d free ports between %d and %d", len(ports), base, low)
	}
	return ports, nil
}

// Leftovers lists what of the cluster is still on the host after Close:
// its work dir, its record, cgroups or mounts of its nodes.
func (c *Cluster) Leftovers() []string {
	var left []string
	if c.Dir != "" {
		if _, err := os.Lstat(c.Dir); err == nil {
			left = append(left, c.Dir)
		}
	}
	if c.ownsRecord() {
		left = append(left, clusterRecord)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, n := range c.Nodes() {
		for _, d := range plannedCgroups(n.cgname) {
			if _, err := os.Lstat(d); err == nil {
				left = append(left, d)
			}
		}
		if strings.Contains(string(mounts), " "+n.Root+" ") {
			left = append(left, "mount "+n.Root)
		}
	}
	return left
}

// ownsRecord reports whether the killed-run record on the host is this
// cluster's. Close gives the host lock back, so the record a check finds
// afterwards can be the next cluster's (another test process's), which is
// not a leftover of this one.
func (c *Cluster) ownsRecord() bool {
	data, err := os.ReadFile(clusterRecord)
	if err != nil {
		return false
	}
	var r record
	return json.Unmarshal(data, &r) != nil || r.Dir == c.Dir
}
