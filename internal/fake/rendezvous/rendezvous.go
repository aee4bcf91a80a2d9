package rendezvous

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/fake"
	"github.com/enroot-agent/enroot-agent/internal/fake/registry"
)

// The proof that a multi-node job's ranks find each other in containers:
// the rendezvous program (internal/fake/rendezvous/program), built static and
// put in an image whose environment has PYTORCH_VERSION, as NVIDIA's
// PyTorch images do. Enroot's 50-slurm-pytorch.sh sets MASTER_ADDR,
// MASTER_PORT and WORLD_SIZE in such a container, and Pyxis sets RANK per
// task; without the hook the program fails at once. Nothing here needs a
// testing.T, so the real chain (one node, srun -n2) and the cluster test
// bed (srun -N2) use the same image and the same reading of its output.

// Program is the program's path in the image.
const Program = "/usr/local/bin/rendezvous"

// Build compiles the program into dir, static (CGO_ENABLED=0):
// the image has no C library of its own for it. It returns its path.
func Build(dir string) (string, error) {
	out := filepath.Join(dir, "rendezvous")
	cmd := exec.Command(fake.GoTool(), "build", "-trimpath", "-o", out, "./internal/fake/rendezvous/program")
	cmd.Dir = fake.ModuleRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the rendezvous program: %w\n%s", err, msg)
	}
	return out, nil
}

// Push builds the program and pushes to ref (host[:port]/repo:tag) on reg,
// as user AWS, an image holding it at Program, with a shell (Pyxis starts
// containers through one) and PYTORCH_VERSION in its environment. It
// returns the manifest digest.
func Push(reg *registry.Registry, ref, password string) (string, error) {
	dir, err := os.MkdirTemp("", "rendezvous-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	bin, err := Build(dir)
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	return reg.PushProgramImage(ref, password, map[string][]byte{Program: data}, []string{"PATH=/usr/local/bin:/bin", "PYTORCH_VERSION=2.3.0"})
}

// Args is the srun command line that runs the program on nodes
// nodes with tasks ranks in all, from image (an enroot image name,
// host#repo:tag). --overcommit lets a test node with fewer CPUs than ranks
// run them all.
func Args(image string, nodes, tasks int) []string {
	return []string{"srun", "-N" + strconv.Itoa(nodes), "-n" + strconv.Itoa(tasks), "--overcommit",
		"--container-image=" + image, Program}
}

var metLine = regexp.MustCompile(`(?m)^rank ([0-9]+) of ([0-9]+): met (.*)$`)

// Check reads the job's output: every rank of world printed the
// line of a completed rendezvous, naming every other rank.
func Check(out string, world int) error {
	seen := map[int]bool{}
	for _, m := range metLine.FindAllStringSubmatch(out, -1) {
		rank, _ := strconv.Atoi(m[1])
		if n, _ := strconv.Atoi(m[2]); n != world {
			return fmt.Errorf("rank %d says the world has %s ranks, want %d", rank, m[2], world)
		}
		if want := othersOf(rank, world); m[3] != want {
			return fmt.Errorf("rank %d met %q, want %q", rank, m[3], want)
		}
		seen[rank] = true
	}
	if len(seen) != world {
		return fmt.Errorf("%d of %d ranks completed the rendezvous:\n%s", len(seen), world, out)
	}
	return nil
}

// othersOf is what the program prints for rank in a world of n.
func othersOf(rank, n int) string {
	var out []string
	for r := 0; r < n; r++ {
		if r != rank {
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
