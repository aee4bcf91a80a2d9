package converge

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
)

// A state_dir a user made first (here under a 1777 parent) may hold records
// they planted for the agent to trust: it is not converged, and apply
// refuses it with a fix rather than adopting it.
func TestDirOwnedByAUserIsNotConverged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root to hand a directory to another user; run make test as root")
	}
	path := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	d := &Dir{StepName: "state-dir", Path: path, Opts: atomicfile.Options{Mode: 0o700, UID: -1, GID: -1}}
	plan, err := d.Plan(context.Background())
	if err != nil || plan.Done() || !strings.Contains(plan.Reason, "owned by uid 65534") || !strings.Contains(plan.Reason, "remove it") {
		t.Fatalf("plan %+v, err %v", plan, err)
	}
	if err := plan.Apply(context.Background()); err == nil || !strings.Contains(err.Error(), "uid 65534") {
		t.Fatalf("apply: %v", err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil || st.Uid != 65534 {
		t.Fatalf("the user's directory was adopted: uid %d, %v", st.Uid, err)
	}
}
