package registry

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// hostPrograms are what a container started by enroot needs from its image:
// enroot runs the image's /etc/rc with /bin/sh, and the test runs cat. They
// are this machine's own dash and coreutils cat with the two libraries they
// link, so the image needs no network and no Docker to build.
func hostPrograms() map[string]string {
	return map[string]string{
		"/bin/sh":                         "/bin/dash",
		"/bin/cat":                        "/bin/cat",
		"/lib64/ld-linux-x86-64.so.2":     "/lib64/ld-linux-x86-64.so.2",
		"/lib/x86_64-linux-gnu/libc.so.6": "/lib/x86_64-linux-gnu/libc.so.6",
	}
}

// PushFileImage pushes to ref (host[:port]/repo:tag) on r, as user AWS, a
// one-layer linux/amd64 image holding a shell, cat and files (path ->
// content). It returns the manifest digest.
func (r *Registry) PushFileImage(ref, password string, files map[string]string) (string, error) {
	layerTar, err := imageTar(files, nil)
	if err != nil {
		return "", err
	}
	return r.pushLayer(ref, password, layerTar, []string{"PATH=/bin"})
}

// PushProgramImage pushes to ref, as user AWS, a one-layer linux/amd64
// image holding a shell, cat and programs (path -> content, executable),
// with env as its config's environment. It returns the manifest digest.
func (r *Registry) PushProgramImage(ref, password string, programs map[string][]byte, env []string) (string, error) {
	layerTar, err := imageTar(nil, programs)
	if err != nil {
		return "", err
	}
	return r.pushLayer(ref, password, layerTar, env)
}

// pushLayer pushes a one-layer linux/amd64 image of layerTar with env as
// its config's environment.
func (r *Registry) pushLayer(ref, password string, layerTar []byte, env []string) (string, error) {
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return "", err
	}
	return r.pushLayers(ref, password, []v1.Layer{layer}, env)
}

// pushLayers pushes a linux/amd64 image of layers, in order, with env as
// its config's environment.
func (r *Registry) pushLayers(ref, password string, layers []v1.Layer, env []string) (string, error) {
	if runtime.GOARCH != "amd64" {
		return "", fmt.Errorf("test images copy x86_64 host programs; this is %s", runtime.GOARCH)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		return "", err
	}
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return "", err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Config.Env = "amd64", "linux", env
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return "", err
	}
	auth := remote.WithAuth(&authn.Basic{Username: "AWS", Password: password})
	if err := remote.Write(tag, img, auth, remote.WithTransport(r.Transport())); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := img.Digest()
	return d.String(), err
}

// imageTar is the layer: every directory, then the host programs, the
// files (mode 0644) and the programs (0755).
func imageTar(files map[string]string, programs map[string][]byte) ([]byte, error) {
	all := map[string][]byte{}
	modes := map[string]int64{}
	for in, host := range hostPrograms() {
		data, err := os.ReadFile(host)
		if err != nil {
			return nil, fmt.Errorf("image content: %w", err)
		}
		all[in], modes[in] = data, 0o755
	}
	for p, content := range files {
		all[p], modes[p] = []byte(content), 0o644
	}
	for p, content := range programs {
		all[p], modes[p] = content, 0o755
	}
	var paths []string
	dirs := map[string]bool{}
	for p := range all {
		paths = append(paths, p)
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for d := range dirs {
		paths = append(paths, d)
	}
	sort.Strings(paths) // a parent sorts before its children
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 0)
	for _, p := range paths {
		h := &tar.Header{Name: filepath.Clean(p)[1:], Mode: 0o755, ModTime: mtime, Typeflag: tar.TypeDir}
		if !dirs[p] {
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, modes[p], int64(len(all[p]))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if !dirs[p] {
			if _, err := tw.Write(all[p]); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil { // the trailer: enroot's tar wants it
		return nil, err
	}
	return buf.Bytes(), nil
}
