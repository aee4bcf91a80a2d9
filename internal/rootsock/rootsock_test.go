package rootsock

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
)

// The child mode of the test binary: serve HTTP on a socket as whatever
// user the parent started it as, the way a local user could.
func TestMain(m *testing.M) {
	if p := os.Getenv("ROOTSOCK_SERVE"); p != "" {
		ln, err := net.Listen("unix", p) // plain: the spoofing user's side
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "spoofed") }))
		os.Exit(0)
	}
	if p := os.Getenv("ROOTSOCK_DIAL"); p != "" {
		c, err := net.Dial("unix", p) // a user's client: it holds on until the server hangs up
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_, _ = io.Copy(io.Discard, c)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// PeerGroups is what the kernel recorded for the peer at connect: a
// client with 100 supplementary groups (past the first guess of 64) gets
// all of them, whatever it is.
func TestPeerGroups(t *testing.T) {
	mustRoot(t)
	dir, err := os.MkdirTemp("", "rootsock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "dial")
	if data, err := os.ReadFile(os.Args[0]); err != nil || os.WriteFile(bin, data, 0o755) != nil {
		t.Fatalf("copy the test binary: %v", err)
	}
	path := filepath.Join(dir, "images.sock")
	ln, err := ListenUnix(path, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	want := []uint32{100}
	for g := uint32(47000); len(want) < 100; g++ {
		want = append(want, g)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "ROOTSOCK_DIAL="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: want}}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cred, err := PeerCred(c)
	if err != nil || cred.Uid != 65534 || cred.Gid != 65534 {
		t.Fatalf("cred %+v, %v", cred, err)
	}
	got, err := PeerGroups(c)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("groups %v, %v; want %v", got, err, want)
	}
}

func TestRootServerTrusted(t *testing.T) {
	mustRoot(t)
	path := filepath.Join(t.TempDir(), "verify.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "root") }))
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	if got := get(t, path); got != "root" {
		t.Fatalf("got %q", got)
	}
}

// A socket that an unprivileged user serves at the expected path is not
// trusted, whatever it answers.
func TestUserServerRefused(t *testing.T) {
	mustRoot(t)
	// The user must reach both the test binary and the socket's directory.
	dir, err := os.MkdirTemp("", "rootsock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "serve")
	if data, err := os.ReadFile(os.Args[0]); err != nil || os.WriteFile(bin, data, 0o755) != nil {
		t.Fatalf("copy the test binary: %v", err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "verify.sock")
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "ROOTSOCK_SERVE="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	waitFor(t, path)
	_, err = RoundTrip(context.Background(), path, Request{Method: "GET", Path: "/verify"}, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "uid 65534, not root") {
		t.Fatalf("a user's server was trusted: %v", err)
	}
}

// A path past sun_path's 108 bytes (deep --root sandboxes) still works.
func TestLongPath(t *testing.T) {
	mustRoot(t)
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "verify.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "long") }))
	if got := get(t, path); got != "long" {
		t.Fatalf("got %q", got)
	}
	ln.Close()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("socket left after Close: %v", err)
	}
}

func TestListenRefusesNonSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "verify.sock")
	if err := os.WriteFile(path, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Listen over a regular file: %v", err)
	}
}

func get(t *testing.T, path string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := RoundTrip(ctx, path, Request{Method: "GET", Path: "/verify"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// waitFor waits until a server accepts connections on path: the socket
// file exists from bind(2), a moment before listen(2), and a connect
// between the two is refused.
func waitFor(t *testing.T, path string) {
	t.Helper()
	if !fake.Eventually(10*time.Second, func() bool {
		c, err := net.Dial("unix", path)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		t.Fatalf("no server on %s", path)
	}
}

func mustRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Fatal("this test needs root (SO_PEERCRED of a root server)")
	}
}
