// Command rendezvous does what the ranks of a PyTorch job do first, without
// PyTorch: it reads MASTER_ADDR, MASTER_PORT, RANK and WORLD_SIZE as
// Enroot's 50-slurm-pytorch.sh hook and Pyxis set them in a container
// whose image has PYTORCH_VERSION, meets the other ranks over TCP at the
// master (rank 0 listens, as torch.distributed's TCPStore does), and prints
// the ranks it met. Tests build it static and run it in an image with
// srun --container-image (rendezvous.Push).
package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// wait bounds the whole rendezvous: ranks of one step start within seconds
// of each other.
const wait = 60 * time.Second

type job struct {
	addr        string // MASTER_ADDR:MASTER_PORT
	rank, world int
}

func main() {
	j, err := fromEnv(os.Getenv)
	if err == nil {
		var met []int
		if met, err = j.meet(time.Now().Add(wait)); err == nil {
			fmt.Printf("rank %d of %d: met %s\n", j.rank, j.world, others(met, j.rank))
			return
		}
	}
	fmt.Fprintf(os.Stderr, "rendezvous: %v\n", err)
	os.Exit(2)
}

// fromEnv reads the four variables; each must be set, as torch.distributed
// requires with init_method env://.
func fromEnv(getenv func(string) string) (job, error) {
	var missing []string
	for _, k := range []string{"MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE"} {
		if getenv(k) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return job{}, fmt.Errorf("%s not set: Enroot's 50-slurm-pytorch.sh sets MASTER_ADDR, MASTER_PORT and WORLD_SIZE, and Pyxis RANK, in images with PYTORCH_VERSION", strings.Join(missing, ", "))
	}
	rank, err1 := strconv.Atoi(getenv("RANK"))
	world, err2 := strconv.Atoi(getenv("WORLD_SIZE"))
	if err1 != nil || err2 != nil || world < 1 || rank < 0 || rank >= world {
		return job{}, fmt.Errorf("RANK=%q WORLD_SIZE=%q: not a rank of the world", getenv("RANK"), getenv("WORLD_SIZE"))
	}
	return job{addr: net.JoinHostPort(getenv("MASTER_ADDR"), getenv("MASTER_PORT")), rank: rank, world: world}, nil
}

func (j job) meet(deadline time.Time) ([]int, error) {
	if j.rank == 0 {
		return j.serve(deadline)
	}
	return j.join(deadline)
}

// serve is rank 0: it listens on MASTER_PORT on every address, takes one
// "rank N" line from each other rank, then sends every rank the list.
func (j job) serve(deadline time.Time) ([]int, error) {
	_, port, _ := net.SplitHostPort(j.addr)
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	_ = ln.(*net.TCPListener).SetDeadline(deadline)
	ranks := []int{0}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for len(ranks) < j.world {
		c, err := ln.Accept()
		if err != nil {
			return nil, fmt.Errorf("ranks %v of %d arrived: %w", ranks, j.world, err)
		}
		conns = append(conns, c)
		_ = c.SetDeadline(deadline)
		line, err := bufio.NewReader(c).ReadString('\n')
		r, perr := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "rank "))
		if err != nil || perr != nil || r <= 0 || r >= j.world || slices.Contains(ranks, r) {
			return nil, fmt.Errorf("a peer sent %q: %v", line, err)
		}
		ranks = append(ranks, r)
	}
	slices.Sort(ranks)
	list := "ranks " + strings.Trim(fmt.Sprint(ranks), "[]") + "\n"
	for _, c := range conns {
		if _, err := c.Write([]byte(list)); err != nil {
			return nil, err
		}
	}
	return ranks, nil
}

// join is every other rank: it dials the master until it answers (rank 0
// may start later), says its rank, and reads the list of all ranks.
func (j job) join(deadline time.Time) ([]int, error) {
	var c net.Conn
	var err error
	for {
		if c, err = net.DialTimeout("tcp", j.addr, time.Second); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no master at %s: %w", j.addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer c.Close()
	_ = c.SetDeadline(deadline)
	if _, err := fmt.Fprintf(c, "rank %d\n", j.rank); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	fields, ok := strings.CutPrefix(strings.TrimSpace(line), "ranks ")
	if err != nil || !ok {
		return nil, errors.Join(fmt.Errorf("the master at %s sent %q", j.addr, line), err)
	}
	var ranks []int
	for _, f := range strings.Fields(fields) {
		r, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("the master sent %q", line)
		}
		ranks = append(ranks, r)
	}
	return ranks, nil
}

// others is "rank 0" or "ranks 0, 2": every rank met but self.
func others(ranks []int, self int) string {
	var out []string
	for _, r := range ranks {
		if r != self {
			out = append(out, strconv.Itoa(r))
		}
	}
	switch len(out) {
	case 0:
		return "no other rank"
	case 1:
		return "rank " + out[0]
	}
	return "ranks " + strings.Join(out, ", ")
}
