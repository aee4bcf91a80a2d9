package images

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

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
		verify.Func{CheckName: "image-cache-dir", Fn: func(context.Context) verify.Result { return dirCheck(dir) }},
		verify.Func{CheckName: "image-cache-space", Fn: func(context.Context) verify.Result { return spaceCheck(dir, int64(c.Images.MaxSize)) }},
	}
}

// dirCheck: the directory and its image directory are the agent's and no
// one else can write them, so no user can plant an image.
func dirCheck(dir string) verify.Result {
	for _, d := range []string{dir, filepath.Join(dir, "sha256"), filepath.Join(dir, ".locks"), filepath.Join(dir, ".holds")} {
		var st unix.Stat_t
		if err := unix.Lstat(d, &st); err != nil {
			return verify.Failf("restart the agent (systemctl restart enroot-agent): it makes the directory", "%s: %v", d, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != os.Geteuid() || st.Mode&0o022 != 0 {
			return verify.Failf(fmt.Sprintf("remove %s (someone else may have planted files in it) and restart the agent", d),
				"%s is not a directory only the agent writes (uid %d, mode %o)", d, st.Uid, st.Mode&0o7777)
		}
	}
	return verify.Ok(fmt.Sprintf("%s is written by the agent only", dir))
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
