package install

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"go.uber.org/zap"
)

const nobody = 65534

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("run as root: the test chowns directories to other uids")
	}
}

// A user who creates /run/enroot/data inside the 1777 /run/enroot before the
// agent owns the parent of every user's container root filesystem: neither
// enroot-dirs nor enroot-user-dirs may call that converged, and apply takes
// the directory back.
func TestUserMadeSharedParentIsReclaimed(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	conf := MergeConf(nil, "")
	step := &DirsStep{Node: &Node{Root: config.Root(root), Log: zap.NewNop()}, Conf: conf}
	run(t, step)
	data := filepath.Join(root, "run/enroot/data")
	if err := os.Remove(data); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(data, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(data, 0o1777)
	os.Chown(data, nobody, nobody)
	bad, err := SquattedDirs(config.Root(root), conf)
	if err != nil || len(bad) != 1 || !strings.Contains(bad[0], "/run/enroot/data (owner uid 65534)") {
		t.Fatalf("SquattedDirs = %q, %v", bad, err)
	}
	plan, err := step.Plan(t.Context())
	if err != nil || plan.Done() || !strings.Contains(plan.Summary(), "uid 65534") {
		t.Fatalf("plan = %+v, %v", plan, err)
	}
	if rep := run(t, step); rep.Results[0].Outcome != converge.Changed {
		t.Fatalf("apply: %s", rep.Results[0].Outcome)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(data, &st); err != nil || st.Uid != 0 || st.Mode&0o7777 != 0o1777 {
		t.Fatalf("uid %d mode %o err %v", st.Uid, st.Mode&0o7777, err)
	}
	if bad, err := SquattedDirs(config.Root(root), conf); err != nil || len(bad) != 0 {
		t.Fatalf("after apply: %q, %v", bad, err)
	}
}

// Thousands of squatted entries give a count and the first few names, not
// a list as long as the directory.
func TestSquattedDirsListIsBounded(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	parent := filepath.Join(root, "run/enroot")
	if err := os.MkdirAll(parent, 0o1777); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for i := range n {
		p := filepath.Join(parent, fmt.Sprintf("user-%d", 100000+i))
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		os.Chown(p, nobody, nobody)
	}
	bad, err := SquattedDirs(config.Root(root), MergeConf(nil, ""))
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != MaxSquatsListed+1 || bad[len(bad)-1] != fmt.Sprintf("and %d more", n-MaxSquatsListed) {
		t.Fatalf("%d entries, last %q", len(bad), bad[len(bad)-1])
	}
	if total := len(strings.Join(bad, ", ")); total > 500 {
		t.Fatalf("the report is %d bytes", total)
	}
}

// A site's 0600 enroot.conf may hold a proxy password: its backup keeps the
// original's mode and owner instead of becoming world-readable.
func TestConfBackupKeepsModeAndOwner(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	step := &ConfStep{Node: &Node{Root: config.Root(root), Log: zap.NewNop()}, Conf: MergeConf(nil, "")}
	path := filepath.Join(root, EnrootConfPath)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("https_proxy=http://user:password@proxy:3128\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chown(path, 0, 4242)
	run(t, step)
	var st syscall.Stat_t
	if err := syscall.Stat(path+BackupSuffix, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o7777 != 0o600 || st.Uid != 0 || st.Gid != 4242 {
		t.Fatalf("backup mode %o uid %d gid %d, want 0600 0 4242", st.Mode&0o7777, st.Uid, st.Gid)
	}
}
