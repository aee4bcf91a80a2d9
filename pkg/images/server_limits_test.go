package images

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/rootsock"
	"github.com/enroot-agent/enroot-agent/pkg/importer"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// TestHelperServe is the daemon's socket in its own process, so a test can
// measure its memory and run it out of descriptors: it serves
// IMAGES_HELPER_SOCK until stdin closes.
func TestHelperServe(t *testing.T) {
	sock := os.Getenv("IMAGES_HELPER_SOCK")
	if sock == "" {
		return
	}
	if n, _ := strconv.Atoi(os.Getenv("IMAGES_HELPER_NOFILE")); n > 0 {
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: uint64(n), Max: uint64(n)}); err != nil {
			t.Fatal(err)
		}
	}
	log, _ := zap.NewDevelopment()
	c := testCache(t, filepath.Join(filepath.Dir(sock), "cache"), "helper")
	perUID, _ := strconv.Atoi(os.Getenv("IMAGES_HELPER_PER_UID"))
	srv := &Server{Cache: c, Log: log, ConnsPerUID: perUID, Conns: perUID}
	if err := srv.Listen(sock); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Close()
}

type helperServer struct {
	cmd    *exec.Cmd
	sock   string
	stdin  io.WriteCloser
	stderr *syncBuffer
}

func startHelperServer(t *testing.T, env ...string) *helperServer {
	t.Helper()
	h := &helperServer{sock: filepath.Join(worldDir(t), "images.sock"), stderr: &syncBuffer{}}
	h.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperServe$")
	h.cmd.Env = append(append(os.Environ(), "IMAGES_HELPER_SOCK="+h.sock), env...)
	h.cmd.Stderr = h.stderr
	out, _ := h.cmd.StdoutPipe()
	h.stdin, _ = h.cmd.StdinPipe()
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.stdin.Close(); _ = h.cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("helper server: %q\n%s", line, h.stderr.String())
	}
	return h
}

// peakRSS is the helper's high-water resident memory.
func (h *helperServer) peakRSS(t *testing.T) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", h.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

func (h *helperServer) dial(t *testing.T) net.Conn {
	c, err := net.Dial("unix", h.sock)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// call makes one real request: a release naming no step is refused with a
// readable error, which proves the socket accepts and answers.
func (h *helperServer) call(t *testing.T) (int, string) {
	t.Helper()
	client := http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return rootsock.Dial(ctx, h.sock) }}}
	resp, err := client.Post("http://x"+importer.PathRelease, "application/json", strings.NewReader(`{"job":"","step":""}`))
	if err != nil {
		t.Fatalf("the socket does not answer: %v\n%s", err, h.stderr.String())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A 100 MB request, and eight connections that each stream an endless
// body or an endless header line (issue finding 2), are refused at the
// request limit: the daemon's memory stays under 100 MB, and the socket
// answers the next request.
func TestHugeAndEndlessRequestsAreBounded(t *testing.T) {
	h := startHelperServer(t, "IMAGES_HELPER_PER_UID=64")
	chunk := bytes.Repeat([]byte("a"), 1<<20)
	c := h.dial(t)
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n{\"uri\":\"", importer.PathGet, 100<<20)
	sent := 0
	for ; sent < 100; sent++ {
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(chunk); err != nil {
			break // the daemon hung up: it will not read 100 MB
		}
	}
	reply, _ := io.ReadAll(io.LimitReader(c, 4096))
	c.Close()
	if !strings.Contains(string(reply), "413") && sent == 100 {
		t.Fatalf("a 100 MB request was read whole: %q", reply)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := h.dial(t)
			defer c.Close()
			if i%2 == 0 {
				fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", importer.PathGet)
			} else {
				fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nX-Endless: ", importer.PathGet)
			}
			for range 200 { // 200 MiB each, unless cut
				_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				var err error
				if i%2 == 0 {
					_, err = fmt.Fprintf(c, "%x\r\n%s\r\n", len(chunk), chunk)
				} else {
					_, err = c.Write(chunk)
				}
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if rss := h.peakRSS(t); rss > 100<<20 {
		t.Fatalf("the daemon's peak memory is %d MiB, want under 100", rss>>20)
	}
	if code, body := h.call(t); code != http.StatusForbidden || !strings.Contains(body, "not Slurm ids") {
		t.Fatalf("after the flood: %d %s", code, body)
	}
	t.Logf("peak RSS %d MiB", h.peakRSS(t)>>20)
}

// The daemon runs out of descriptors (issue finding 3): accept fails with
// EMFILE, is retried with backoff, and once the connections are gone the
// socket serves again; the old accept loop ended at the first error.
func TestDescriptorExhaustionThenWorkingSocket(t *testing.T) {
	h := startHelperServer(t, "IMAGES_HELPER_NOFILE=64", "IMAGES_HELPER_PER_UID=1000")
	var held []net.Conn
	for range 100 {
		held = append(held, h.dial(t))
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(h.stderr.String(), "too many open files") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(h.stderr.String(), "too many open files") {
		t.Fatalf("the helper never ran out of descriptors:\n%s", h.stderr.String())
	}
	for _, c := range held {
		c.Close()
	}
	if code, body := h.call(t); code != http.StatusForbidden {
		t.Fatalf("after running out of descriptors: %d %s", code, body)
	}
}

// One uid gets DefaultConnsPerUID connections; the next is closed at once,
// and another user still gets in.
func TestConnectionsPerUIDAreCapped(t *testing.T) {
	h := startHelperServer(t)
	var held []net.Conn
	for range DefaultConnsPerUID {
		held = append(held, h.dial(t))
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	extra := h.dial(t)
	_ = extra.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := extra.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("connection %d of one uid: read %d, %v; want closed at once", DefaultConnsPerUID+1, n, err)
	}
	out, err := exec.Command("runuser", "-u", "nobody", "--", "curl", "-sS", "--max-time", "20", "--unix-socket", h.sock,
		"-X", "POST", "-d", `{"job":"","step":""}`, "http://x"+importer.PathRelease).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "not Slurm ids") {
		t.Fatalf("another user while root holds its cap: %v %s", err, out)
	}
}
