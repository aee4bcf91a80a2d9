package rendezvous

import (
	"debug/elf"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The program, built as the image gets it, is static and does the
// rendezvous: three ranks started in any order meet, and each names the
// others; without the hook's variables it fails at once, naming them.
func TestProgram(t *testing.T) {
	bin, err := Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the rendezvous program is dynamically linked: the image has no C library for it")
		}
	}
	f.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	var mu sync.Mutex
	var out strings.Builder
	var wg sync.WaitGroup
	for _, rank := range []int{2, 1, 0} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(bin)
			cmd.Env = []string{"MASTER_ADDR=localhost", "MASTER_PORT=" + port, "RANK=" + strconv.Itoa(rank), "WORLD_SIZE=3"}
			b, err := cmd.CombinedOutput()
			mu.Lock()
			defer mu.Unlock()
			out.Write(b)
			if err != nil {
				t.Errorf("rank %d: %v: %s", rank, err, b)
			}
		}()
	}
	wg.Wait()
	if err := Check(out.String(), 3); err != nil {
		t.Fatal(err)
	}
	if err := Check("rank 0 of 2: met rank 1\n", 2); err == nil {
		t.Fatal("one rank of two passes for a rendezvous")
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{"RANK=0"}
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "MASTER_ADDR, MASTER_PORT, WORLD_SIZE not set") {
		t.Fatalf("without the hook's variables: %v: %s", err, b)
	}
}
