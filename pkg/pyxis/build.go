package pyxis

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// maxBuildLog bounds how much of make's output goes into an error.
const maxBuildLog = 4000

// Bounds of a source tarball, generous: Pyxis unpacks to well under 1 MB in
// about a hundred entries. A tarball past them is refused before it fills
// the cache (a 2 GiB entry of zeros compresses to a few MB).
const (
	maxUnpacked = 64 << 20
	maxEntries  = 10000
)

// Extract unpacks a source tarball into dir, dropping its single top-level
// directory (pyxis-<ver>/). Only directories and regular files are taken,
// a name that would land outside dir is an error, so a hostile tarball
// cannot write anywhere else, and neither can it write more than
// maxUnpacked bytes or maxEntries entries.
func Extract(tarball, dir string) error {
	f, err := os.Open(tarball)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", tarball, err)
	}
	tr := tar.NewReader(gz)
	var entries, total int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", tarball, err)
		}
		if entries++; entries > maxEntries {
			return fmt.Errorf("%s: more than %d entries: not a Pyxis source tarball", tarball, maxEntries)
		}
		if total += max(h.Size, 0); total > maxUnpacked {
			return fmt.Errorf("%s: unpacks to more than %d MiB: not a Pyxis source tarball", tarball, maxUnpacked>>20)
		}
		name := filepath.Clean(h.Name)
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("%s: entry %q points outside the source tree", tarball, h.Name)
		}
		_, rest, _ := strings.Cut(name, "/")
		if rest == "" {
			continue
		}
		if err := extractOne(tr, h, filepath.Join(dir, rest)); err != nil {
			return fmt.Errorf("%s: %s: %w", tarball, h.Name, err)
		}
	}
}

func extractOne(r io.Reader, h *tar.Header, dst string) error {
	switch h.Typeflag {
	case tar.TypeDir:
		return os.MkdirAll(dst, 0o755)
	case tar.TypeReg:
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fs.FileMode(h.Mode)&0o755|0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, r)
		return errors.Join(err, out.Close())
	}
	return nil // links, devices, pax headers: a source build needs none
}

// Make runs make in src with the variables Pyxis's Makefile honours. They go
// in the environment, not on the command line: the Makefile appends to
// CPPFLAGS (CPPFLAGS := -D... $(CPPFLAGS)), and a command-line value would
// replace its own flags instead.
func Make(ctx context.Context, src string, vars map[string]string, target ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "make", append([]string{"-C", src}, target...)...)
	cmd.Env = os.Environ()
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("make %s in %s: %w\n%s", strings.Join(target, " "), src, err, tail(out))
	}
	return out, nil
}

func tail(out []byte) string {
	if len(out) > maxBuildLog {
		out = append([]byte("…"), out[len(out)-maxBuildLog:]...)
	}
	return strings.TrimSpace(string(out))
}

// findPlugin looks for the .so that make install staged under dir.
func findPlugin(dir string) (string, error) {
	var found string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == PluginName && found == "" {
			found = p
		}
		return err
	})
	if err == nil && found == "" {
		err = fmt.Errorf("make install staged no %s under %s", PluginName, dir)
	}
	return found, err
}
