package pyxis

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

func check(t *testing.T, cfg config.Config, root, name string) verify.Result {
	t.Helper()
	for _, c := range Checks(cfg, config.Root(root), nil) {
		if c.Name() == name {
			return c.Run(context.Background())
		}
	}
	t.Fatalf("no check %s", name)
	return verify.Result{}
}

func TestBrokenPlugstackNamesFileAndLine(t *testing.T) {
	root := t.TempDir()
	cfg := config.Default()
	write(t, root+"/usr/local/lib/slurm/spank_pyxis.so", "ELF")
	write(t, root+"/opt/slurm/etc/plugstack.conf", "# site\ninclude plugstack.conf.d/*.conf\n")
	write(t, root+"/opt/slurm/etc/plugstack.conf.d/pyxis.conf", "required /usr/local/lib/slurm/spank_pyxis.so\n")
	if r := check(t, cfg, root, "pyxis-plugstack"); r.Status != verify.OK || !strings.Contains(r.Message, "plugstack.conf.d/pyxis.conf:1") {
		t.Fatalf("good plugstack: %+v", r)
	}
	write(t, root+"/opt/slurm/etc/plugstack.conf.d/x11.conf", "\n\nrequired /usr/lib/slurm/spank_x11.so\n")
	r := check(t, cfg, root, "pyxis-plugstack")
	if r.Status != verify.Fail || !strings.Contains(r.Message, "/opt/slurm/etc/plugstack.conf.d/x11.conf:3: required plugin /usr/lib/slurm/spank_x11.so does not exist") || r.Fix == "" {
		t.Fatalf("broken plugstack: %+v", r)
	}
}

func TestPluginBuiltForAnotherSlurm(t *testing.T) {
	root := t.TempDir()
	cfg := config.Default()
	write(t, root+"/usr/local/lib/slurm/spank_pyxis.so", "ELF")
	write(t, root+"/opt/slurm/include/slurm/spank.h", "")
	write(t, root+"/opt/slurm/include/slurm/slurm_version.h", "#define SLURM_VERSION_NUMBER 0x170b04\n")
	if r := check(t, cfg, root, "pyxis-plugin"); r.Status != verify.Unknown {
		t.Fatalf("no record: %+v", r)
	}
	write(t, root+"/var/lib/enroot-agent/pyxis-build.json", `{"pyxis_version":"0.24.0","slurm_version":"23.02.7"}`)
	r := check(t, cfg, root, "pyxis-plugin")
	if r.Status != verify.Fail || !strings.Contains(r.Message, "built for Slurm 23.02.7 but Slurm 23.11.4 runs here") {
		t.Fatalf("%+v", r)
	}
}

func TestMemlockCheck(t *testing.T) {
	root := t.TempDir()
	cfg := config.Default()
	t.Setenv("SLURM_CONF", "")
	if r := check(t, cfg, root, "slurm-memlock"); r.Status != verify.Unknown {
		t.Fatalf("no slurm.conf: %+v", r)
	}
	write(t, root+"/opt/slurm/etc/slurm.conf", "ClusterName=c\n")
	if r := check(t, cfg, root, "slurm-memlock"); r.Status != verify.Unknown || !strings.Contains(r.Message, "does not list MEMLOCK") || !strings.Contains(r.Fix, "PropagateResourceLimitsExcept=MEMLOCK") {
		t.Fatalf("missing: %+v", r)
	}
	write(t, root+"/opt/slurm/etc/slurm.conf", "ClusterName=c\nPropagateResourceLimitsExcept=MEMLOCK\n")
	if r := check(t, cfg, root, "slurm-memlock"); r.Status != verify.OK {
		t.Fatalf("set: %+v", r)
	}
}

func TestSlurmdStartedBeforeTheChange(t *testing.T) {
	root := t.TempDir()
	cfg := config.Default()
	write(t, root+"/usr/local/lib/slurm/spank_pyxis.so", "ELF")
	write(t, root+"/opt/slurm/etc/plugstack.conf", "required /usr/local/lib/slurm/spank_pyxis.so\n")
	if r := check(t, cfg, root, "slurmd-pyxis-loaded"); r.Status != verify.OK || !strings.Contains(r.Message, "not running") {
		t.Fatalf("no slurmd: %+v", r)
	}
	// Booted at 1_700_000_000; slurmd started 100 s later (10000 ticks).
	write(t, root+"/proc/stat", "cpu 1 2\nbtime 1700000000\n")
	write(t, root+"/proc/812/stat", "812 (slurmd) S 1 812 812 0 -1 4194624 0 0 0 0 0 0 0 0 20 0 1 0 10000 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n")
	write(t, root+"/proc/813/stat", "813 (bash) S 1 813 813 0 -1 4194624 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n")
	started := time.Unix(1700000100, 0)
	os.Chtimes(root+"/opt/slurm/etc/plugstack.conf", started.Add(-time.Hour), started.Add(-time.Hour))
	os.Chtimes(root+"/usr/local/lib/slurm/spank_pyxis.so", started.Add(time.Minute), started.Add(time.Minute))
	r := check(t, cfg, root, "slurmd-pyxis-loaded")
	if r.Status != verify.Fail || !strings.Contains(r.Message, "slurmd started at 2023-11-14T22:15:00Z, before spank_pyxis.so") {
		t.Fatalf("stale slurmd: %+v", r)
	}
	os.Chtimes(root+"/usr/local/lib/slurm/spank_pyxis.so", started.Add(-time.Minute), started.Add(-time.Minute))
	if r := check(t, cfg, root, "slurmd-pyxis-loaded"); r.Status != verify.OK {
		t.Fatalf("fresh slurmd: %+v", r)
	}
}
