package install

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"golang.org/x/sys/unix"
)

// TestDpkgWaitsForTheLock holds dpkg's frontend lock the way apt and
// unattended-upgrades do (an fcntl lock), then releases it: the real dpkg
// first refuses, and Run retries until it gets through.
func TestDpkgWaitsForTheLock(t *testing.T) {
	root := testenv.DebRoot(t)
	dir := t.TempDir()
	var files []string
	for name, data := range testenv.EnrootDebs(t, "4.1.2") {
		files = append(files, filepath.Join(dir, name))
		testenv.WriteFile(t, files[len(files)-1], data, 0o644)
	}
	lock, err := os.OpenFile(filepath.Join(root, "var/lib/dpkg/lock-frontend"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	flk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0}
	if err := unix.FcntlFlock(lock.Fd(), unix.F_SETLK, &flk); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(400*time.Millisecond, func() { lock.Close() })

	pm := NewPackageManager(Platform{Family: Deb, Frontend: "apt-get"}, config.Root(root), nil)
	attempts := 0
	counting := pm.(*dpkg)
	counting.lockRetry = 100 * time.Millisecond
	real := counting.run
	counting.run = func(ctx context.Context, c Cmd) ([]byte, error) { attempts++; return real(ctx, c) }
	if err := pm.Run(context.Background(), pm.InstallFilesCmd(files)); err != nil {
		t.Fatal(err)
	}
	if v, _ := pm.Version(context.Background(), "enroot+caps"); v != "4.1.2" || attempts < 2 {
		t.Fatalf("enroot+caps %q after %d attempts", v, attempts)
	}
}
