package registry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// BigImage is a generated image of a real training image's size and
// shape: the first layer as PushFileImage makes it (a shell, cat and the
// given files), then Layers layers of LayerSize random bytes each.
type BigImage struct {
	Layers    int
	LayerSize int64
	// Seed makes the bytes: images pushed with another seed share no blob.
	Seed uint64
}

// PushBigImage pushes spec to ref (host[:port]/repo:tag) on r, as user AWS,
// and returns the manifest digest and the bytes of its layer blobs.
//
// The random bytes (ChaCha8, seeded by spec.Seed and the layer's number)
// do not compress, so each layer's blob is as big as its file, as a real
// image's already-compressed weights are. They are stored in gzip
// uncompressed (level 0): deflating random bytes gains nothing and would
// cost the 2-core machine minutes per GiB. Each layer is generated as it
// is read (for its digest, then for its upload), never held in memory.
func (r *Registry) PushBigImage(ref, password string, files map[string]string, spec BigImage) (string, int64, error) {
	first, err := imageTar(files, nil)
	if err != nil {
		return "", 0, err
	}
	base, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(first)), nil })
	if err != nil {
		return "", 0, err
	}
	layers := []v1.Layer{base}
	for i := range spec.Layers {
		name := fmt.Sprintf("data/shard-%03d.bin", i)
		open := func() (io.ReadCloser, error) { return randomTar(name, spec.LayerSize, spec.Seed, uint64(i)), nil }
		l, err := tarball.LayerFromOpener(open, tarball.WithCompressionLevel(gzip.NoCompression))
		if err != nil {
			return "", 0, err
		}
		layers = append(layers, l)
	}
	d, err := r.pushLayers(ref, password, layers, []string{"PATH=/bin"})
	if err != nil {
		return "", 0, err
	}
	var total int64
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			return "", 0, err
		}
		total += n
	}
	return d, total, nil
}

// randomTar is a tar stream of one file, name, holding size bytes of
// ChaCha8 output for (seed, layer), written as it is read.
func randomTar(name string, size int64, seed, layer uint64) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		var key [32]byte
		binary.LittleEndian.PutUint64(key[:], seed)
		binary.LittleEndian.PutUint64(key[8:], layer)
		src := rand.NewChaCha8(key)
		tw := tar.NewWriter(pw)
		h := &tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: time.Unix(1700000000, 0), Typeflag: tar.TypeReg}
		err := tw.WriteHeader(h)
		if err == nil {
			_, err = io.CopyN(tw, src, size)
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}
