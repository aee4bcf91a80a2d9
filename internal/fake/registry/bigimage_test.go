package registry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

// A generated layer is one file of exactly the size asked for, the same
// bytes for the same seed and layer, other bytes for another layer, and
// does not compress: its blob is as big as an image of that size.
func TestRandomTarIsRealSize(t *testing.T) {
	const size = 1 << 20
	read := func(seed, layer uint64) []byte {
		t.Helper()
		tr := tar.NewReader(randomTar("data/shard-000.bin", size, seed, layer))
		h, err := tr.Next()
		if err != nil || h.Name != "data/shard-000.bin" || h.Size != size {
			t.Fatalf("header %+v, %v", h, err)
		}
		data, err := io.ReadAll(tr)
		if err != nil || len(data) != size {
			t.Fatalf("%d bytes, %v", len(data), err)
		}
		if _, err := tr.Next(); err != io.EOF {
			t.Fatalf("more than one file: %v", err)
		}
		return data
	}
	a, again, other := read(7, 0), read(7, 0), read(7, 1)
	if !bytes.Equal(a, again) || bytes.Equal(a, other) {
		t.Fatal("layers are not a function of (seed, layer)")
	}
	var z bytes.Buffer
	w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	_, _ = w.Write(a)
	_ = w.Close()
	if z.Len() < size {
		t.Fatalf("gzip -9 made %d bytes of %d random ones: the image would be smaller than it says", z.Len(), size)
	}
}
