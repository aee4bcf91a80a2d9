package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/realchain"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// imageBlob is the random file that makes the image big enough for its
// import to show: random bytes do not compress, so the layer is as big.
const imageBlob = 16 << 20

// cacheRig is the real chain (realchain.Chain: real agent, Enroot,
// Pyxis, Slurm and registry) with users and big images for the benchmark.
type cacheRig struct {
	c      *realchain.Chain
	users  []string
	dlog   strings.Builder
	daemon *exec.Cmd // the agent's daemon, once cacheOn started it
}

func newCacheRig(b *testing.B, users int) *cacheRig {
	c, err := realchain.Start(testenv.Binary(b))
	if err != nil {
		b.Fatal(err)
	}
	r := &cacheRig{c: c}
	b.Cleanup(func() {
		if err := c.Close(); err != nil {
			b.Errorf("the host is not restored: %v", err)
		}
	})
	c.Share = 8 // concurrent starts run side by side on the one node
	for range users {
		if err := c.AddUser(); err != nil {
			b.Fatal(err)
		}
		r.users = append(r.users, c.User)
	}
	return r
}

// push pushes ml/big:tag, the chain's file plus imageBlob random bytes.
func (r *cacheRig) push(b *testing.B, tag string) {
	blob := make([]byte, imageBlob)
	_, _ = rand.Read(blob)
	ref := r.c.Host + ":" + r.c.Registry.Port + "/ml/big:" + tag
	files := map[string]string{r.c.File: r.c.Want + "\n", "/opt/blob": string(blob)}
	if _, err := r.c.Registry.PushFileImage(ref, r.c.Token(), files); err != nil {
		b.Fatal(err)
	}
}

func (r *cacheRig) use(tag string) { r.c.Image = r.c.Host + "#ml/big:" + tag }

func (r *cacheRig) apply(b *testing.B) {
	if out, errOut, code := r.c.Agent("apply"); code != 0 {
		b.Fatalf("apply: %d\n%s%s", code, out, errOut)
	}
}

// firstLine runs the chain's srun as user and returns the time from its
// start to the first line of its output, which must be the file's content.
func (r *cacheRig) firstLine(b *testing.B, user string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute) // a GiB image on a busy machine
	defer cancel()
	cmd := r.c.SrunCmd(ctx, user)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	took := time.Since(start)
	_, _ = io.Copy(io.Discard, out)
	err = cmd.Wait()
	if err != nil || strings.TrimSpace(line) != r.c.Want {
		return 0, fmt.Errorf("srun as %s: %v, first line %q\n%s\ndaemon:\n%s", user, err, line,
			r.c.Redact(stderr.String()), r.c.Redact(r.daemonLog()))
	}
	return took, nil
}

// starts runs n sruns at once, by n users, and returns the registry bytes
// they fetched and the slowest one's time to its first line.
func (r *cacheRig) starts(b *testing.B, n int) (float64, time.Duration) {
	before := r.registryBytes(b)
	errs := make([]error, n)
	took := make([]time.Duration, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); took[i], errs[i] = r.firstLine(b, r.users[i]) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	return r.registryBytes(b) - before, slices.Max(took)
}

// served matches the registry's access log lines (combined log format) for
// the benchmark's repository: the status, then the bytes sent.
var served = regexp.MustCompile(`"GET /v2/ml/big/[^ ]* HTTP/1.1" 200 (\d+)`)

func (r *cacheRig) registryBytes(b *testing.B) float64 {
	data, err := os.ReadFile(filepath.Join(r.c.Dir, "registry", "registry.log"))
	if err != nil {
		b.Fatal(err)
	}
	total := 0.0
	for _, m := range served.FindAllSubmatch(data, -1) {
		n, _ := strconv.ParseFloat(string(m[1]), 64)
		total += n
	}
	return total
}
