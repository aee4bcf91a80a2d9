package verify

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

func put(t *testing.T, path, data string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, cfg config.Config, root, name string) Result {
	t.Helper()
	for _, c := range PyxisChecks(cfg, config.Root(root)) {
		if c.Name() == name {
			return c.Run(context.Background())
		}
	}
	t.Fatalf("no check %s", name)
	return Result{}
}

func TestBrokenPlugstackNamesFileAndLine(t *testing.T) {
	root := t.TempDir()
	cfg := config.Default()
	put(t, root+"/usr/local/lib/slurm/spank_pyxis.so", "ELF")
	put(t, root+"/opt/slurm/etc/plugstack.conf", "# site\ninclude plugstack.conf.d/*.conf\n")
	put(t, root+"/opt/slurm/etc/plugstack.conf.d/pyxis.conf", "required /usr/local/lib/slurm/spank_pyxis.so\n")
	if r := run(t, cfg, root, "pyxis-plugstack"); r.Status != OK || !strings.Contains(r.Message, "plugstack.conf.d/pyxis.conf:1") {
		t.Fatalf("good plugstack: %+v", r)
	}
	put(t, root+"/opt/slurm/etc/plugstack.conf.d/x11.conf", "\n\nrequired /usr/lib/slurm/spank_x11.so\n")
	r := run(t, cfg, root, "pyxis-plugstack")
	if r.Status != Fail || !strings.Contains(r.Message, "/opt/slurm/etc/plugstack.conf.d/x11.conf:3: required plugin /usr/lib/slurm/spank_x11.so does not exist") || r.Fix == "" {
		t.Fatalf("broken plugstack: %+v", r)
	}
}

func TestPluginBuiltForAnotherSlurm(t *testing.T) {
	root := t.TempDir()
	cfg := config.Default()
	put(t, root+"/usr/local/lib/slurm/spank_pyxis.so", "ELF")
	put(t, root+"/opt/slurm/include/slurm/spank.h", "")
	put(t, root+"/opt/slurm/include/slurm/slurm_version.h", "#define SLURM_VERSION_NUMBER 0x170b04\n")
	if r := run(t, cfg, root, "pyxis-plugin"); r.Status != Unknown {
		t.Fatalf("no record: %+v", r)
	}
	put(t, root+"/var/lib/enroot-agent/pyxis-build.json", `{"pyxis_version":"0.24.0","slurm_version":"23.02.7"}`)
	r := run(t, cfg, root, "pyxis-plugin")
	if r.Status != Fail || !strings.Contains(r.Message, "built for Slurm 23.02.7 but Slurm 23.11.4 runs here") {
		t.Fatalf("%+v", r)
	}
}

func TestMemlockCheck(t *testing.T) {
	root := t.TempDir()
	cfg := config.Default()
	t.Setenv("SLURM_CONF", "")
	if r := run(t, cfg, root, "slurm-memlock"); r.Status != Unknown {
		t.Fatalf("no slurm.conf: %+v", r)
	}
	put(t, root+"/opt/slurm/etc/slurm.conf", "ClusterName=c\n")
	if r := run(t, cfg, root, "slurm-memlock"); r.Status != Unknown || !strings.Contains(r.Message, "does not list MEMLOCK") || !strings.Contains(r.Fix, "PropagateResourceLimitsExcept=MEMLOCK") {
		t.Fatalf("missing: %+v", r)
	}
	put(t, root+"/opt/slurm/etc/slurm.conf", "ClusterName=c\nPropagateResourceLimitsExcept=MEMLOCK\n")
	if r := run(t, cfg, root, "slurm-memlock"); r.Status != OK {
		t.Fatalf("set: %+v", r)
	}
}

func TestSlurmdStartedBeforeTheChange(t *testing.T) {
	root := t.TempDir()
	cfg := config.Default()
	put(t, root+"/usr/local/lib/slurm/spank_pyxis.so", "ELF")
	put(t, root+"/opt/slurm/etc/plugstack.conf", "required /usr/local/lib/slurm/spank_pyxis.so\n")
	if r := run(t, cfg, root, "slurmd-pyxis-loaded"); r.Status != OK || !strings.Contains(r.Message, "not running") {
		t.Fatalf("no slurmd: %+v", r)
	}
	// Booted at 1_700_000_000; slurmd started 100 s later (10000 ticks).
	put(t, root+"/proc/stat", "cpu 1 2\nbtime 1700000000\n")
	put(t, root+"/proc/812/stat", "812 (slurmd) S 1 812 812 0 -1 4194624 0 0 0 0 0 0 0 0 20 0 1 0 10000 0 0\n")
	put(t, root+"/proc/813/stat", "813 (bash) S 1 813 813 0 -1 4194624 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0\n")
	started := time.Unix(1700000100, 0)
	os.Chtimes(root+"/opt/slurm/etc/plugstack.conf", started.Add(-time.Hour), started.Add(-time.Hour))
	os.Chtimes(root+"/usr/local/lib/slurm/spank_pyxis.so", started.Add(time.Minute), started.Add(time.Minute))
	r := run(t, cfg, root, "slurmd-pyxis-loaded")
	if r.Status != Fail || !strings.Contains(r.Message, "slurmd started at 2023-11-14T22:15:00Z, before spank_pyxis.so") {
		t.Fatalf("stale slurmd: %+v", r)
	}
	os.Chtimes(root+"/usr/local/lib/slurm/spank_pyxis.so", started.Add(-time.Minute), started.Add(-time.Minute))
	if r := run(t, cfg, root, "slurmd-pyxis-loaded"); r.Status != OK {
		t.Fatalf("fresh slurmd: %+v", r)
	}
}
