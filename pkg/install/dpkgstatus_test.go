package install

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
)

const statusFixture = `Package: enroot
Status: install ok installed
Priority: optional
Version: 4.1.2-1
Description: enroot
 a multi-line description
 Version: 9.9.9-9

Package: enroot+caps
Status: deinstall ok config-files
Version: 4.1.2-1

Package: jq
Status: install ok half-installed
Version: 1.6-2

Package: zstd
Architecture: amd64
Version: 1:1.5.4+dfsg2-5
Status: install ok installed
`

func TestParseDpkgStatus(t *testing.T) {
	got := parseDpkgStatus(statusFixture)
	want := map[string]string{"enroot": "4.1.2", "zstd": "1:1.5.4+dfsg2"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func FuzzParseDpkgStatus(f *testing.F) {
	f.Add(statusFixture)
	f.Add("Package: a\nStatus:\nVersion: -\n\n\n")
	f.Fuzz(func(t *testing.T, s string) { parseDpkgStatus(s) })
}

// The status file answers without a process; a pending dpkg journal
// (updates/) sends the question to dpkg-query, which reads it.
func TestDpkgVersionFromStatusFile(t *testing.T) {
	root := t.TempDir()
	admin := filepath.Join(root, "var/lib/dpkg")
	testenv.MkdirAll(t, filepath.Join(admin, "updates"), 0o755)
	testenv.WriteFile(t, filepath.Join(admin, "status"), []byte(statusFixture), 0o644)
	asked := 0
	run := func(context.Context, Cmd) ([]byte, error) { asked++; return []byte("installed 4.0.0-1\n"), nil }
	pm := NewPackageManager(Platform{Family: Deb, Frontend: "apt-get"}, config.Root(root), run)
	ctx := context.Background()
	if v, err := pm.Version(ctx, "enroot"); v != "4.1.2" || err != nil || asked != 0 {
		t.Fatalf("enroot: %q %v, %d processes", v, err, asked)
	}
	if ok, err := pm.Provided(ctx, "jq"); ok || err != nil || asked != 0 {
		t.Fatalf("half-installed jq: %v %v", ok, err)
	}
	// dpkg replaced the file: the new content is read.
	testenv.WriteFile(t, filepath.Join(admin, "status.new"), []byte("Package: enroot\nStatus: install ok installed\nVersion: 4.2.0-1\n"), 0o644)
	os.Rename(filepath.Join(admin, "status.new"), filepath.Join(admin, "status"))
	if v, _ := pm.Version(ctx, "enroot"); v != "4.2.0" {
		t.Fatalf("after dpkg changed the status file: %q", v)
	}
	testenv.WriteFile(t, filepath.Join(admin, "updates", "0001"), []byte("Package: enroot\n"), 0o644)
	if v, _ := pm.Version(ctx, "enroot"); v != "4.0.0" || asked != 1 {
		t.Fatalf("with a pending journal: %q after %d processes, want dpkg-query's answer", v, asked)
	}
}
