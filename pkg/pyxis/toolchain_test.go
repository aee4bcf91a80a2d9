package pyxis

import (
	"archive/tar"
	"compress/gzip"
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
