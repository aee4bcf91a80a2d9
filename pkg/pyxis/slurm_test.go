package pyxis

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

func TestParseVersions(t *testing.T) {
	for in, want := range map[string]string{"slurm 23.11.4\n": "23.11.4", "slurm-wlm 22.05.8": "22.05.8", "srun: error: x": ""} {
		if got, _ := ParseSrunVersion(in); got != want {
			t.Errorf("srun %q: %q, want %q", in, got, want)
		}
	}
	h := "#ifndef X\n#define SLURM_VERSION_NUMBER 0x160508\n#define SLURM_VERSION_NUM(a,b,c) ...\n"
	if got, ok := ParseHeaderVersion(h); !ok || got != "22.05.8" {
		t.Fatalf("header: %q %v", got, ok)
	}
	if _, ok := ParseHeaderVersion("#define SLURM_VERSION_STRING \"22.05.8\"\n"); ok {
		t.Fatal("no number must not parse")
	}
}

func TestDetectSlurmHeadersAndMismatch(t *testing.T) {
	root := t.TempDir()
	r := config.Root(root)
	if _, err := DetectSlurm(context.Background(), r, "/opt/slurm"); err == nil || !strings.Contains(err.Error(), "cannot tell the Slurm version") {
		t.Fatalf("nothing installed: %v", err)
	}
	write(t, root+"/opt/slurm/include/slurm/spank.h", "")
	write(t, root+"/opt/slurm/include/slurm/slurm_version.h", "#define SLURM_VERSION_NUMBER 0x170b04\n")
	s, err := DetectSlurm(context.Background(), r, "/opt/slurm")
	if err != nil || s.Version != "23.11.4" || s.Include != root+"/opt/slurm/include" {
		t.Fatalf("headers: %+v %v", s, err)
	}
	// An srun that reports another release: the headers are not its own.
	write(t, root+"/opt/slurm/bin/srun", "#!/bin/sh\necho slurm 23.11.6\n")
	os.Chmod(root+"/opt/slurm/bin/srun", 0o755)
	if _, err := DetectSlurm(context.Background(), r, "/opt/slurm"); err == nil || !strings.Contains(err.Error(), "reports Slurm 23.11.6 but the headers") {
		t.Fatalf("mismatch: %v", err)
	}
}

func TestFamilyAndToolchainMessage(t *testing.T) {
	if Family("ID=debian\n") != "apt" || Family(`ID="amzn"`+"\nID_LIKE=\"centos rhel fedora\"\n") != "dnf" || Family("ID=arch\n") != "" {
		t.Fatal("family")
	}
	root := t.TempDir()
	write(t, root+"/etc/os-release", "ID=rocky\nID_LIKE=\"rhel centos fedora\"\n")
	t.Setenv("PATH", t.TempDir()) // no cc, no make
	err := checkToolchain(config.Root(root), Slurm{Version: "23.11.4"}, "/opt/slurm")
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
