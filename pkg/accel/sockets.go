package accel

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// nvidiaSockets are the sockets nvidia-container-cli looks up as the job's
// user when it sets up a GPU container (it mounts persistenced's into the
// container). A directory on the way that a job's user cannot search makes
// the lookup fail with "path error: …: permission denied" (enroot #231,
// Fabric Manager on B200 nodes), and a socket a user cannot write is of no
// use to the container's processes (enroot #265).
var nvidiaSockets = []string{"/var/run/nvidia-persistenced/socket", "/var/run/nvidia-fabricmanager/socket"}

// SocketsCheck: on a GPU node, every user can reach nvidia-persistenced's
// and Fabric Manager's sockets, or they do not exist.
func SocketsCheck(root config.Root) verify.Check {
	return verify.Func{CheckName: "nvidia-sockets", Fn: func(ctx context.Context) verify.Result {
		return socketsResult(ctx, root)
	}}
}

func socketsResult(ctx context.Context, root config.Root) verify.Result {
	host, err := DetectDevices(ctx, root, nil)
	switch {
	case err != nil:
		return verify.Unknownf("check that the agent can read /dev and /proc", "%v", err)
	case !host.GPU():
		return verify.Ok("no NVIDIA GPU here")
	}
	var problems, present []string
	for _, sock := range nvidiaSockets {
		problem, exists, err := socketProblem(root, sock)
		if err != nil {
			return verify.Unknownf("", "%s: %v", sock, err)
		}
		if problem != "" {
			problems = append(problems, problem)
		} else if exists {
			present = append(present, sock)
		}
	}
	if len(problems) > 0 {
		return verify.Failf("let every user search the directory (chmod o+x, or RuntimeDirectoryMode=0755 in a drop-in of the daemon's unit, which recreates it at start) and use the socket (mode 0666)",
			"%s: nvidia-container-cli runs as the job's user, and Enroot's 98-nvidia.sh then fails every GPU container", strings.Join(problems, "; "))
	}
	if len(present) == 0 {
		return verify.Ok("neither nvidia-persistenced nor Fabric Manager has a socket here")
	}
	return verify.Ok(strings.Join(present, " and ") + ": reachable by every user")
}

// socketProblem says what keeps a user other than its owner from reaching
// sock ("" when nothing does, or when it does not exist).
func socketProblem(root config.Root, sock string) (problem string, exists bool, err error) {
	dir := "/"
	for _, c := range strings.Split(strings.Trim(sock, "/"), "/") {
		p := filepath.Join(dir, c)
		st, err := os.Stat(root.Path(p))
		if errors.Is(err, fs.ErrNotExist) {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		if p == sock {
			if st.Mode()&0o006 != 0o006 {
				return fmt.Sprintf("%s is mode %04o%s: a job's processes cannot use it", sock, st.Mode().Perm(), owner(st)), true, nil
			}
			return "", true, nil
		}
		if st.Mode()&0o001 == 0 {
			return fmt.Sprintf("%s is mode %04o%s: a job's user cannot reach %s", p, st.Mode().Perm(), owner(st), sock), true, nil
		}
		dir = p
	}
	return "", true, nil
}

func owner(st os.FileInfo) string {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf(" (owner uid %d)", s.Uid)
	}
	return ""
}
