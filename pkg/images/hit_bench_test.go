package images

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/imageref"
	"github.com/enroot-agent/enroot-agent/pkg/importer"
)

// BenchmarkCacheHit is the daemon's own work for `importer get` on a cache
// hit (issue 25), and where it goes. The rig is the unit tests': a node's
// cache in a directory only root can change, the real Server on a real
// unix socket, the image on go-containerregistry's registry on loopback
// (testenv.PushLoopbackImage) with an entry for it in the agent's netrc
// file, imported once (the miss) by the fake enroot. The client is this
// test binary, started as images-hit-client as uid 65534 under a root
// process titled "slurmstepd: [42.0]" (fakeStep), as Pyxis runs the
// importer; it opens one connection per request, as each importer
// process does, and reads the answer to its end.
//
//   - get+release: a job step's requests over the socket (a get, a hit that
//     holds the image, then a release), the client's round trips included;
//   - roundtrip: a request the server answers at once (404): the socket,
//     the peer's credentials and HTTP alone;
//   - the stages of a hit and a release, called in this process: step (the
//     walk up /proc from the client to its slurmstepd), netrc (the agent's
//     credentials for the registry), verify (the manifest check with them,
//     netrc included), verify_tls (the same on an ECR-like registry: TLS,
//     Basic auth, through a proxy; newECRLike), verify_tls_unkept (the
//     same with a new transport each time: TCP, the proxy's tunnel, TLS,
//     the /v2/ handshake, then the manifest), lookup (the cached file's
//     check), hold+release (a
//     new hold with the user's bounds, then the store's part of a release).
//
// others=256 puts 256 holds of 32 other images by other users' steps of
// another node beside them, as on a shared images.dir, which a user's get
// and release may read.
func BenchmarkCacheHit(b *testing.B) {
	for _, others := range []int{0, 256} {
		rig := newHitRig(b, others)
		pre := ""
		if others > 0 {
			pre = "others=" + strconv.Itoa(others) + "/"
		}
		b.Run(pre+"get+release", func(b *testing.B) { rig.cycle(b) })
		b.Run(pre+"hold+release", func(b *testing.B) {
			var hold, release time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if err := rig.c.admitHold(rig.v, rig.h); err != nil {
					b.Fatal(err)
				}
				held := time.Now()
				if n, err := rig.c.Store.Release(rig.c.Node, rig.h); n != 1 || err != nil {
					b.Fatalf("release: %d holds, %v", n, err)
				}
				hold, release = hold+held.Sub(start), release+time.Since(held)
			}
			b.ReportMetric(float64(hold.Microseconds())/float64(b.N), "hold-µs")
			b.ReportMetric(float64(release.Microseconds())/float64(b.N), "release-µs")
		})
		if others == 0 {
			rig.stages(b)
		}
	}
}

// stages are the parts of a hit that do not depend on others' holds.
func (r *hitRig) stages(b *testing.B) {
	b.Run("roundtrip", func(b *testing.B) { r.cycle(b, "roundtrip") })
	b.Run("step", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := findStep(r.pid, 65534, "42", "0"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("netrc", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if r.c.Registry.authConfig(r.im.Host()).Password != "secret" {
				b.Fatal("no credentials for the registry")
			}
		}
	})
	b.Run("verify", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := r.c.Registry.Verify(context.Background(), r.im, r.d); err != nil {
				b.Fatal(err)
			}
		}
	})
	tls := newECRLike(b)
	b.Run("verify_tls", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := tls.reg.Verify(context.Background(), tls.im, tls.d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify_tls_unkept", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			r, err := tls.registry(tls.reg.Netrc)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := r.Verify(context.Background(), tls.im, tls.d); err != nil {
				b.Fatal(err)
			}
			r.Transport.(httpsOnly).base.(*http.Transport).CloseIdleConnections()
		}
	})
	b.Run("lookup", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := r.c.Get(context.Background(), r.v, nil, 65534); err != nil {
				b.Fatal(err)
			}
		}
	})
}

type hitRig struct {
	c     *Cache
	im    imageref.Image
	d     imageref.Digest
	v     *Verified
	h     Holder
	pid   int // the client's
	stdin io.Writer
	out   *bufio.Reader
}

func newHitRig(b *testing.B, others int) *hitRig {
	b.Helper()
	newFakeEnroot(b, 0)
	uri, digest := testenv.PushLoopbackImage(b, "hit")
	base := worldDir(b)
	c := testCache(b, filepath.Join(base, "cache"), "n1")
	im, err := imageref.ParseURI(uri)
	if err != nil {
		b.Fatal(err)
	}
	c.Registry.Netrc = filepath.Join(base, ".credentials")
	var netrc strings.Builder
	for i := range 8 { // a node's netrc: a few registries, the image's among them
		fmt.Fprintf(&netrc, "machine 1234567890%02d.dkr.ecr.us-east-1.amazonaws.com login AWS password %s\n", i, strings.Repeat("x", 2000))
	}
	fmt.Fprintf(&netrc, "machine %s login AWS password secret\n", strings.Split(im.Host(), ":")[0])
	if err := os.WriteFile(c.Registry.Netrc, []byte(netrc.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	c.Limits = Limits{Imports: 2, Images: 8, Bytes: 1 << 30}
	_, sock := serveCache(b, c, base)
	bin := filepath.Join(base, "images-hit-client")
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		b.Fatal(err)
	}
	step := newFakeStep(b, base)
	step.env = []string{"IMAGES_SOCKET=" + sock, "HIT_URI=" + uri, "HIT_DIGEST=" + digest}
	cmd := step.cmd("slurmstepd: [42.0]", 65534, bin)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	r := &hitRig{c: c, im: im, d: imageref.Digest(digest), stdin: stdin, out: bufio.NewReader(stdout)}
	line, err := r.out.ReadString('\n')
	if r.pid, err = strconv.Atoi(strings.TrimSpace(line)); err != nil {
		b.Fatalf("the client's pid: %q, %v", line, err)
	}
	r.ask(b, "get", 1) // the miss: imported by the fake enroot
	if c.Stats.Snapshot().Misses != 1 {
		b.Fatalf("the first get was no miss: %+v", c.Stats.Snapshot())
	}
	if r.v, err = c.Registry.Verify(context.Background(), im, r.d); err != nil {
		b.Fatal(err)
	}
	step0, err := findStep(r.pid, 65534, "42", "0")
	if err != nil {
		b.Fatal(err)
	}
	r.h = Holder{UID: 65534, Job: "42", Step: "0", Proc: step0}
	for i := range others {
		d := imageref.Digest(fmt.Sprintf("sha256:%064x", i%32))
		h := Holder{UID: uint32(1000 + i%64), Job: strconv.Itoa(1000 + i), Step: "0", Proc: stepd{pid: 1, start: 1}}
		if err := c.Store.Hold(d, "n2", h); err != nil {
			b.Fatal(err)
		}
	}
	return r
}

// cycle has the client make b.N job steps' requests: a get (a hit, which
// holds the image) and a release (which drops the hold), each timed by the
// client from its connect to the end of the answer.
// With op "roundtrip", b.N requests the server answers at once (an
// unknown path): the socket and HTTP alone.
func (r *hitRig) cycle(b *testing.B, op ...string) {
	b.Helper()
	b.ResetTimer()
	get, release := r.ask(b, append(op, "cycle")[0], max(b.N, 1))
	b.StopTimer()
	if len(op) > 0 {
		return
	}
	b.ReportMetric(float64(get.Microseconds())/float64(max(b.N, 1)), "get-µs")
	b.ReportMetric(float64(release.Microseconds())/float64(max(b.N, 1)), "release-µs")
}

// ask has the client make n cycles (or gets: op "get") and returns the
// time its gets and releases took.
func (r *hitRig) ask(b *testing.B, op string, n int) (get, release time.Duration) {
	b.Helper()
	fmt.Fprintf(r.stdin, "%s %d\n", op, n)
	line, err := r.out.ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 3 || f[0] != "ok" {
		b.Fatalf("%s: %q, %v", op, line, err)
	}
	g, _ := strconv.ParseInt(f[1], 10, 64)
	rl, _ := strconv.ParseInt(f[2], 10, 64)
	return time.Duration(g), time.Duration(rl)
}

// hitClientMain is the benchmark's client: it prints its pid, then for each
// line "cycle N" makes N gets each followed by a release, for "get N" N
// gets, for "roundtrip N" N requests of an unknown path, one connection per
// request, and answers "ok <ns of the gets>
// <ns of the releases>" or the first failure.
func hitClientMain() int {
	fmt.Println(os.Getpid())
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		op, n, _ := strings.Cut(sc.Text(), " ")
		count, _ := strconv.Atoi(n)
		reqs := []string{"get"}
		switch op {
		case "cycle":
			reqs = append(reqs, "release")
		case "roundtrip":
			reqs = []string{"roundtrip"}
		}
		var took [2]time.Duration
		err := func() error {
			for i := 0; i < count; i++ {
				for j, req := range reqs {
					start := time.Now()
					if err := hitRequest(req); err != nil {
						return err
					}
					took[j] += time.Since(start)
				}
			}
			return nil
		}()
		if err != nil {
			fmt.Println(strings.ReplaceAll(err.Error(), "\n", " "))
			continue
		}
		fmt.Println("ok", took[0].Nanoseconds(), took[1].Nanoseconds())
	}
	return 0
}

func hitRequest(op string) error {
	path, body, want := importer.PathRelease, `{"job":"42","step":"0"}`, "{}"
	if op == "get" {
		path = importer.PathGet
		body = `{"uri":"` + os.Getenv("HIT_URI") + `","digest":"` + os.Getenv("HIT_DIGEST") + `","job":"42","step":"0"}`
		want = `"path":"`
	}
	if op == "roundtrip" {
		path, want = "/v1/none", "404"
	}
	c, err := net.Dial("unix", os.Getenv("IMAGES_SOCKET"))
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: enroot-agent\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		path, len(body), body); err != nil {
		return err
	}
	answer, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(answer), "HTTP/1.1 200 ") && op != "roundtrip" || !strings.Contains(string(answer), want) {
		return fmt.Errorf("%s: %q", op, answer)
	}
	return nil
}
