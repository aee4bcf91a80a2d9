// Package imagecache tests the shared image cache through the real chain:
// the real agent's daemon, real Enroot and Pyxis (its importer interface),
// real Slurm and a real registry, two non-root users.
package imagecache

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
	"github.com/enroot-agent/enroot-agent/internal/realchain"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// blobGets counts the registry's answered layer and config downloads.
// distribution 2.8 logs each one as an access line and as a
// "response completed" line; the access line is counted.
var blobGets = regexp.MustCompile(`"GET /v2/ml/hello/blobs/sha256:[0-9a-f]+ HTTP/1.1" 200`)

// The cache runs with every default (images: {cache: true} and nothing
// else): images.dir /var/cache/enroot-agent-images, the importer at
// /usr/bin/enroot-agent, images.import_user nobody.
func TestTwoUsersOneImport(t *testing.T) {
	c, err := realchain.Start(testenv.Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("the host is not restored: %v", err)
		}
	})
	if err := c.InstallImporter(); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	appendFile(t, c.Config, fmt.Sprintf("images:\n  cache: true\nverify:\n  listen: 127.0.0.1:%d\n", port))
	if out, errOut, code := c.Agent("apply"); code != 0 {
		t.Fatalf("apply: %d\n%s%s", code, out, errOut)
	}
	if err := c.StartSlurm(); err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command(c.Bin, "--config", c.Config, "--log-format", "console", "run")
	daemon.Env = c.Env
	dlog := &syncLog{}
	daemon.Stdout, daemon.Stderr = dlog, dlog
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = daemon.Process.Kill(); _ = daemon.Wait() })
	waitFor(t, "/run/enroot-agent/images.sock", dlog)

	// Before anyone pulls it, a user tries to poison the cache with a
	// registry that lies about the image's digest.
	if err := c.AddUser(); err != nil {
		t.Fatal(err)
	}
	t.Run("LyingRegistryIsRefused", func(t *testing.T) { lyingRegistry(t, c, dlog) })

	regLog := filepath.Join(c.Dir, "registry", "registry.log")
	var fetched []int
	for i := range 2 {
		if err := c.AddUser(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		stdout, stderr, err := c.Srun(ctx)
		cancel()
		if err != nil || strings.TrimSpace(stdout) != c.Want {
			t.Fatalf("user %d (%s): %v\nstdout %q\nstderr %s\ndaemon:\n%s\n%s", i, c.User, err, stdout, stderr, c.Redact(dlog.String()), c.Redact(c.Slurm.Logs()))
		}
		data, _ := os.ReadFile(regLog)
		fetched = append(fetched, len(blobGets.FindAll(data, -1)))
	}
	if fetched[0] == 0 || fetched[1] != fetched[0] {
		data, _ := os.ReadFile(regLog)
		t.Fatalf("registry blob downloads after each user: %v, want the second user to fetch nothing\n%s\nregistry:\n%s", fetched, c.Redact(dlog.String()), tailOf(string(data)))
	}
	if !strings.Contains(dlog.String(), "served a cached image") || strings.Count(dlog.String(), "image cached") != 1 {
		t.Fatalf("the daemon did not import once and serve both:\n%s", c.Redact(dlog.String()))
	}
	t.Logf("blob downloads: %v", fetched)

	images := "/var/cache/enroot-agent-images"
	t.Run("RejectedCredentialsGetNothing", func(t *testing.T) { rejectedCredentials(t, c, dlog) })
	t.Run("UsersCannotPlantFiles", func(t *testing.T) { cannotPlant(t, c, images) })
	t.Run("CorruptFileIsImportedAgain", func(t *testing.T) { corruptFile(t, c, images, dlog) })
}

// syncLog is the daemon's output, written by its process and read by the
// test.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func appendFile(t *testing.T, path, s string) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitFor waits until the daemon accepts connections on the socket path
// (it exists from bind(2), a moment before listen(2) and its chmod).
func waitFor(t *testing.T, path string, log *syncLog) {
	if !fake.Eventually(3*time.Minute, func() bool {
		c, err := net.Dial("unix", path)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		t.Fatalf("nothing accepts connections on %s; daemon:\n%s", path, log.String())
	}
}

func tailOf(s string) string {
	if len(s) > 4000 {
		return s[len(s)-4000:]
	}
	return s
}
