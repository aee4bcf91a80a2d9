package install

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
)

// pathKeys are the enroot.conf keys naming per-user storage. The library and
// sysconf paths belong to the package, and the config path to the
// credentials writer.
var pathKeys = []string{"ENROOT_RUNTIME_PATH", "ENROOT_DATA_PATH", "ENROOT_CACHE_PATH", "ENROOT_TEMP_PATH"}

// ConfDirs lists the directories that must exist for enroot to work as
// every user: the fixed part of each per-user path (/run/enroot for
// /run/enroot/user-$(id -u)), and a fixed path as a whole (enroot creates
// per-user directories itself but never ENROOT_TEMP_PATH). They get mode
// 1777: anyone may create an entry, only its owner may remove it.
func ConfDirs(conf map[string]string) []string {
	seen := map[string]bool{}
	var dirs []string
	for _, k := range pathKeys {
		d := staticDir(conf[k])
		if d != "" && !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	slices.Sort(dirs)
	return dirs
}

// staticDir is the longest directory of v that does not depend on who runs
// enroot; "" when v is relative or starts with an expansion (${HOME}/...).
func staticDir(v string) string {
	if !strings.HasPrefix(v, "/") {
		return ""
	}
	if i := strings.IndexAny(v, "$`\\*?[~ \"'"); i >= 0 {
		v = v[:strings.LastIndex(v[:i], "/")+1]
	}
	v = filepath.Clean(v)
	if v == "/" {
		return ""
	}
	return v
}

// DirsStep creates the directories enroot.conf's paths need (ConfDirs).
type DirsStep struct {
	Node *Node
	Conf map[string]string
}

func (s *DirsStep) Name() string { return StepDirs }

// dirOpts: world-writable with the sticky bit, like /tmp, owned by root.
var dirOpts = atomicfile.Options{Mode: 0o777 | os.ModeSticky, UID: -1, GID: -1}

func (s *DirsStep) Plan(context.Context) (*converge.Plan, error) {
	var changes []converge.Change
	var todo []string
	for _, d := range ConfDirs(s.Conf) {
		path := s.Node.Root.Path(d)
		problem, err := atomicfile.DirProblem(path, dirOpts)
		if err != nil {
			return nil, err
		}
		if problem != "" {
			todo = append(todo, path)
			target := path + " (mode 1777)"
			if problem != "missing" {
				target = path + " (mode 1777, root; now " + problem + ")"
			}
			changes = append(changes, converge.Change{Action: "mkdir", Target: target})
		}
	}
	return converge.NewPlan("directories enroot.conf names are missing or have another mode or owner", changes,
		func(context.Context) error { return mkdirs(todo) }), nil
}

func mkdirs(todo []string) error {
	for _, path := range todo {
		if _, err := atomicfile.EnsureDir(path, dirOpts); err != nil {
			return err
		}
	}
	return nil
}

// TmpfilesPath recreates the /run directories at boot, before slurmd can
// start a job and before the agent's first run has made them again.
const TmpfilesPath = "/etc/tmpfiles.d/enroot-agent.conf"

// TmpfilesStep keeps the tmpfiles.d(5) drop-in for ConfDirs.
func TmpfilesStep(node *Node, conf map[string]string) converge.Step {
	path := node.Root.Path(TmpfilesPath)
	return &parentFile{File: converge.File{StepName: StepTmpfiles, Path: path, Opts: atomicfile.Default,
		Render: func() ([]byte, error) {
			var b strings.Builder
			b.WriteString("# Managed by enroot-agent: the directories /etc/enroot/enroot.conf needs, made at boot.\n")
			for _, d := range ConfDirs(conf) {
				b.WriteString("d " + d + " 1777 root root -\n")
			}
			return []byte(b.String()), nil
		}}}
}

// parentFile is a converge.File whose directory is created when missing.
type parentFile struct{ converge.File }

func (f *parentFile) Plan(ctx context.Context) (*converge.Plan, error) {
	write, err := f.File.Plan(ctx)
	if err != nil || write.Done() {
		return write, err
	}
	return converge.NewPlan(write.Reason, write.Changes, func(ctx context.Context) error {
		if err := atomicfile.MkdirIfMissing(filepath.Dir(f.Path)); err != nil {
			return err
		}
		return write.Apply(ctx)
	}), nil
}

// perUser is the per-user suffix the default paths use.
const perUser = "/user-$(id -u)"

// MaxSquatsListed bounds the list SquattedDirs returns: a user can make any
// number of entries, and the list ends up in /verify and in the log.
const MaxSquatsListed = 5

// SquattedDirs finds per-user enroot directories that do not belong to their
// user. The shared parents are world-writable (mode 1777), so a user could
// create /run/enroot/user-<someone else's uid> first; enroot would then run
// that user's containers in a directory the squatter controls. A shared
// parent that a user owns is reported too: its owner controls every entry.
// Only paths ending in /user-$(id -u) can be checked this way. At most
// MaxSquatsListed are named, then a last element says how many more.
func SquattedDirs(root config.Root, conf map[string]string) ([]string, error) {
	var s squats
	for _, k := range pathKeys {
		parent, ok := strings.CutSuffix(conf[k], perUser)
		if !ok || staticDir(conf[k]) != parent {
			continue
		}
		if err := s.scan(root, parent); err != nil {
			return nil, err
		}
	}
	if more := s.count - len(s.named); more > 0 {
		s.named = append(s.named, fmt.Sprintf("and %d more", more))
	}
	return s.named, nil
}

// squats counts every bad directory and keeps the first few names.
type squats struct {
	named []string
	count int
}

func (s *squats) add(path string, uid uint32) {
	if s.count++; len(s.named) < MaxSquatsListed {
		s.named = append(s.named, fmt.Sprintf("%s (owner uid %d)", path, uid))
	}
}

// scan reads parent in batches, so a directory with a million entries costs
// no more memory than one with a thousand.
func (s *squats) scan(root config.Root, parent string) error {
	dir, err := os.Open(root.Path(parent))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer dir.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(dir.Fd()), &st); err != nil {
		return err
	}
	if st.Uid != uint32(os.Geteuid()) {
		s.add(parent, st.Uid)
	}
	for {
		entries, err := dir.ReadDir(1024)
		for _, e := range entries {
			if err := s.check(root, parent, e.Name()); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (s *squats) check(root config.Root, parent, name string) error {
	uid, err := strconv.Atoi(strings.TrimPrefix(name, "user-"))
	if !strings.HasPrefix(name, "user-") || err != nil {
		return nil
	}
	var st syscall.Stat_t
	err = syscall.Lstat(root.Path(filepath.Join(parent, name)), &st)
	if errors.Is(err, syscall.ENOENT) {
		return nil // removed since the listing
	}
	if err != nil {
		return err
	}
	if int(st.Uid) != uid || st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		s.add(filepath.Join(parent, name), st.Uid)
	}
	return nil
}
