package pyxis

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
)

func TestFamilyAndToolchainMessage(t *testing.T) {
	if Family("ID=debian\n") != "apt" || Family(`ID="amzn"`+"\nID_LIKE=\"centos rhel fedora\"\n") != "dnf" || Family("ID=arch\n") != "" {
		t.Fatal("family")
	}
	root := t.TempDir()
	write(t, root+"/etc/os-release", "ID=rocky\nID_LIKE=\"rhel centos fedora\"\n")
	t.Setenv("PATH", t.TempDir()) // no cc, no make
	err := checkToolchain(config.Root(root), slurm.Detected{Version: "23.11.4"}, "/opt/slurm")
	for _, want := range []string{"a C compiler (cc) (dnf install gcc)", "make (dnf install make)", "for Slurm 23.11.4 (dnf install slurm-devel)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
}

func TestExtractRefusesEscapes(t *testing.T) {
	dir := t.TempDir()
	tgz := filepath.Join(dir, "evil.tar.gz")
	f, _ := os.Create(tgz)
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "pyxis-1/../../etc/passwd", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644})
	tw.Write([]byte("x"))
	tw.Close()
	gz.Close()
	f.Close()
	if err := Extract(tgz, filepath.Join(dir, "src")); err == nil || !strings.Contains(err.Error(), "outside the source tree") {
		t.Fatalf("err = %v", err)
	}
}

// A tarball that unpacks to far more than any Pyxis release (a 2 GiB entry
// compresses to a few MB) or holds too many entries is refused before it
// fills the cache.
func TestExtractIsBounded(t *testing.T) {
	for name, entries := range map[string][]tar.Header{
		"huge entry":   {{Name: "pyxis-1/big.c", Typeflag: tar.TypeReg, Size: maxUnpacked + 1, Mode: 0o644}},
		"many entries": manyEntries(maxEntries + 1),
	} {
		dir := t.TempDir()
		tgz := filepath.Join(dir, "bomb.tar.gz")
		f, _ := os.Create(tgz)
		gz, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
		tw := tar.NewWriter(gz)
		zeros := make([]byte, 1<<20)
		for _, h := range entries {
			tw.WriteHeader(&h)
			for left := h.Size; left > 0; left -= int64(len(zeros)) {
				tw.Write(zeros[:min(left, int64(len(zeros)))])
			}
		}
		tw.Close()
		gz.Close()
		f.Close()
		src := filepath.Join(dir, "src")
		err := Extract(tgz, src)
		if err == nil || !strings.Contains(err.Error(), "not a Pyxis source") {
			t.Errorf("%s: err = %v", name, err)
		}
		var size int64
		filepath.Walk(src, func(_ string, fi os.FileInfo, _ error) error {
			if fi != nil {
				size += fi.Size()
			}
			return nil
		})
		if size > maxUnpacked {
			t.Errorf("%s: %d bytes unpacked", name, size)
		}
	}
}

func manyEntries(n int) []tar.Header {
	hs := make([]tar.Header, n)
	for i := range hs {
		// Links cost the test no disk; they count as entries all the same.
		hs[i] = tar.Header{Name: fmt.Sprintf("pyxis-1/l/%d", i), Typeflag: tar.TypeSymlink, Linkname: "x"}
	}
	return hs
}
