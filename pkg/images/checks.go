package images

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"golang.org/x/sys/unix"
)

// minFree is the free space below which the cache check fails: the next
// import would fill the disk under the jobs.
const minFree = 10 << 30

// Checks are the cache's verify checks; none when images.cache is off.
func Checks(c config.Config, root config.Root) []verify.Check {
	if !c.Images.Cache {
		return nil
	}
	dir := root.Path(c.Images.Dir)
	return []verify.Check{
		verify.Func{CheckName: "image-cache-dir", Fn: func(ctx context.Context) verify.Result { return dirCheck(ctx, dir, c.Credentials.Group) }},
		verify.Func{CheckName: "image-cache-space", Fn: func(context.Context) verify.Result { return spaceCheck(dir, int64(c.Images.MaxSize)) }},
	}
}

// dirCheck: only root can change the path to the directory, jobs' users
// and the import user can reach it, and its directories are the agent's
// with the modes credentials.group asks for, so no user can plant an image
// and no user outside the group can read one.
func dirCheck(ctx context.Context, dir, group string) verify.Result {
	if err := trustedPath(dir); err != nil {
		return verify.Failf(trustFix(dir), "%v", err)
	}
	if err := reachable(dir); err != nil {
		return verify.Failf(reachFix, "%v", err)
	}
	gid, err := groupID(ctx, nil, group)
	if err != nil {
		return verify.Unknownf("check credentials.group", "%v", err)
	}
	s := &Store{Dir: dir, GID: gid}
	want := map[string]os.FileMode{dir: s.dirOpts().Mode, filepath.Join(dir, "sha256"): s.dirOpts().Mode,
		filepath.Join(dir, ".locks"): privOpts.Mode, filepath.Join(dir, ".holds"): privOpts.Mode,
		filepath.Join(dir, ".reserve"): privOpts.Mode, filepath.Join(dir, ".work"): workOpts.Mode}
	for _, d := range slices.Sorted(maps.Keys(want)) {
		var st unix.Stat_t
		if err := unix.Lstat(d, &st); err != nil {
			return verify.Failf("restart the agent (systemctl restart enroot-agent): it makes the directory", "%s: %v", d, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != os.Geteuid() || os.FileMode(st.Mode&0o7777) != want[d] ||
			(gid >= 0 && want[d] == s.dirOpts().Mode && int(st.Gid) != gid) {
			return verify.Failf(fmt.Sprintf("remove %s (someone else may have planted files in it) and restart the agent", d),
				"%s is not the agent's directory with mode %04o (uid %d, gid %d, mode %04o)", d, want[d], st.Uid, st.Gid, st.Mode&0o7777)
		}
	}
	return verify.Ok(fmt.Sprintf("%s is written by the agent only, on a path only root can change", dir))
}

const reachFix = "give every directory above images.dir o+x (chmod o+x), or set images.dir elsewhere: jobs read the images, and images.import_user works, below it"

// reachable says whether every user can pass each directory above dir:
// the jobs' users open the images by path, and the import user works in
// .work. (A images.dir inside a 0700 state_dir fails every import.)
func reachable(dir string) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		var st unix.Stat_t
		if err := unix.Stat(d, &st); err != nil {
			return fmt.Errorf("%s: %w", d, err)
		}
		if st.Mode&0o001 == 0 {
			return fmt.Errorf("%s (mode %04o) cannot be passed by other users: no job and not images.import_user can reach %s", d, st.Mode&0o7777, dir)
		}
		if d == "/" {
			return nil
		}
	}
}

// spaceCheck: room for the cache to grow to its bound, or minFree.
func spaceCheck(dir string, max int64) verify.Result {
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return verify.Unknownf("check the filesystem of images.dir", "statfs %s: %v", dir, err)
	}
	free := int64(fs.Bavail) * fs.Bsize
	if free < minFree {
		return verify.Failf("free space on the filesystem of images.dir, or lower images.max_size",
			"%s has %d MiB free, under %d MiB: the next import could fill it", dir, free>>20, int64(minFree)>>20)
	}
	return verify.Ok(fmt.Sprintf("%s has %d MiB free (images.max_size %d MiB)", dir, free>>20, max>>20))
}
