package accel

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// The probe container's root filesystem is built from this node's own
// programs: a shell (enroot-switchroot always starts the command through
// one) and, on a GPU node, what nvidia-smi needs besides the driver
// libraries the NVIDIA hook mounts. So it needs no image, no registry and
// no network, and runs what the node runs.

// libDirs are where the dynamic loader of each architecture looks when a
// program names a library without a path, Debian's multiarch directories
// first, then the lib64 of RPM distributions; nil for another machine.
func libDirs(m elf.Machine) []string {
	switch m {
	case elf.EM_X86_64:
		return []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}
	case elf.EM_AARCH64:
		return []string{"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}
	}
	return nil
}

// driverLib reports the libraries the NVIDIA hook brings into a container
// from the driver: they must not be copied from the host in its place.
func driverLib(name string) bool {
	return strings.HasPrefix(name, "libnvidia-") || strings.HasPrefix(name, "libcuda.")
}

// Closure lists bin (a host path) and what the dynamic loader needs to run
// it: its interpreter and the shared libraries it needs, transitively, as
// the paths it finds them under. NVIDIA's driver libraries are left out.
func Closure(root config.Root, bin string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	queue := []string{bin}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
		deps, err := elfDeps(root, p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		queue = append(queue, deps...)
	}
	return out, nil
}

// elfDeps are the interpreter and the libraries of one ELF file, found.
func elfDeps(root config.Root, p string) ([]string, error) {
	f, err := elf.Open(root.Path(p))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var deps []string
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			data, err := io.ReadAll(prog.Open())
			if err != nil {
				return nil, err
			}
			deps = append(deps, strings.TrimRight(string(data), "\x00"))
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return nil, err
	}
	for _, lib := range libs {
		if driverLib(lib) {
			continue
		}
		found, err := findLib(root, f.Machine, lib)
		if err != nil {
			return nil, err
		}
		deps = append(deps, found)
	}
	return deps, nil
}

func findLib(root config.Root, m elf.Machine, lib string) (string, error) {
	if strings.Contains(lib, "/") {
		return lib, nil
	}
	dirs := libDirs(m)
	if dirs == nil {
		return "", fmt.Errorf("no library directories known for %s", m)
	}
	for _, d := range dirs {
		p := filepath.Join(d, lib)
		if st, err := os.Stat(root.Path(p)); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("needs %s, found in none of %s", lib, strings.Join(dirs, ", "))
}

// copyInto copies each host file (symlinks followed) to the same path
// under dir, as an executable or library: the content is what matters.
func copyInto(root config.Root, dir string, files []string) error {
	for _, p := range files {
		if err := copyFile(root.Path(p), filepath.Join(dir, p)); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
