package pyxis

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"go.uber.org/zap"
)

const admin = "# site plugins\nrequired /usr/lib/slurm/x11.so\noptional /opt/lua.so a=1" // no final newline

func plugstackStep(t *testing.T, root string) *Plugstack {
	t.Helper()
	cfg := config.Default().Pyxis
	cfg.Args = map[string]string{"container_scope": "job", "runtime_path": "/run/pyxis"}
	write(t, root+cfg.Libdir+"/spank_pyxis.so", "ELF")
	return &Plugstack{Cfg: cfg, Root: config.Root(root), Log: zap.NewNop()}
}

func TestPlugstackConvergesKeepingAdminLines(t *testing.T) {
	root := t.TempDir()
	step := plugstackStep(t, root)
	write(t, root+"/opt/slurm/etc/plugstack.conf", admin)
	ctx := context.Background()
	plan, err := step.Plan(ctx)
	if err != nil || len(plan.Changes) != 2 {
		t.Fatalf("plan: %+v %v", plan, err)
	}
	if err := plan.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	main, _ := os.ReadFile(root + "/opt/slurm/etc/plugstack.conf")
	wantMain := admin + "\n# Added by enroot-agent: the Pyxis entry lives in plugstack.conf.d/pyxis.conf\ninclude /opt/slurm/etc/plugstack.conf.d/*.conf\n"
	if string(main) != wantMain {
		t.Fatalf("main:\n%s", main)
	}
	conf, _ := os.ReadFile(root + "/opt/slurm/etc/plugstack.conf.d/pyxis.conf")
	if !strings.HasSuffix(string(conf), "\nrequired /usr/local/lib/slurm/spank_pyxis.so container_scope=job runtime_path=/run/pyxis\n") {
		t.Fatalf("pyxis.conf:\n%s", conf)
	}
	if plan, err := step.Plan(ctx); err != nil || !plan.Done() {
		t.Fatalf("second plan: %+v %v", plan, err)
	}
	// An argument change rewrites only pyxis.conf.
	step.Cfg.Args["container_scope"] = "global"
	if plan, err := step.Plan(ctx); err != nil || len(plan.Changes) != 1 || !strings.HasSuffix(plan.Changes[0].Target, "pyxis.conf") {
		t.Fatalf("args change: %+v %v", plan, err)
	}
}

func TestPlugstackRefusesWhatWouldBreakSrun(t *testing.T) {
	root := t.TempDir()
	step := plugstackStep(t, root)
	write(t, root+"/opt/slurm/etc/plugstack.conf", "include /etc/slurm/plugstack.conf.d/*.conf\n")
	write(t, root+"/etc/slurm/plugstack.conf.d/pyxis.conf", "required /usr/local/lib/slurm/spank_pyxis.so\n")
	_, err := step.Plan(context.Background())
	if err == nil || !strings.Contains(err.Error(), "/etc/slurm/plugstack.conf.d/pyxis.conf:1: required /usr/local/lib/slurm/spank_pyxis.so") {
		t.Fatalf("a second Pyxis line must be refused: %v", err)
	}
	os.Remove(root + step.Cfg.Libdir + "/spank_pyxis.so")
	os.Remove(root + "/etc/slurm/plugstack.conf.d/pyxis.conf")
	// With the build step, a plan may precede the plugin (a dry run), but
	// Apply checks again; without it, the plan itself refuses.
	plan, err := step.Plan(context.Background())
	if err != nil || plan.Done() {
		t.Fatalf("plan before the build: %+v %v", plan, err)
	}
	if err := plan.Apply(context.Background()); err == nil || !strings.Contains(err.Error(), "is not installed") {
		t.Fatalf("a missing plugin must be refused: %v", err)
	}
	step.Cfg.Install = false
	if _, err := step.Plan(context.Background()); err == nil || !strings.Contains(err.Error(), "is not installed") {
		t.Fatalf("a missing plugin must be refused: %v", err)
	}
}

func TestPlugstackUnmanagedOnlyChecks(t *testing.T) {
	root := t.TempDir()
	step := plugstackStep(t, root)
	step.Cfg.PlugstackManaged = false
	write(t, root+"/opt/slurm/etc/plugstack.conf", admin)
	_, err := step.Plan(context.Background())
	if err == nil || !strings.Contains(err.Error(), "managed elsewhere") || !strings.Contains(err.Error(), "no line loads spank_pyxis.so") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(root + "/opt/slurm/etc/plugstack.conf.d"); !os.IsNotExist(err) {
		t.Fatal("an unmanaged plugstack was touched")
	}
	write(t, root+"/opt/slurm/etc/plugstack.conf", admin+"\noptional /usr/local/lib/slurm/spank_pyxis.so runtime_path=/run/pyxis container_scope=job\n")
	if plan, err := step.Plan(context.Background()); err != nil || !plan.Done() {
		t.Fatalf("a correct unmanaged plugstack: %+v %v", plan, err)
	}
	write(t, root+"/opt/slurm/etc/plugstack.conf", admin+"\nrequired /usr/local/lib/slurm/spank_pyxis.so runtime_path=/run/pyxis\n")
	if _, err := step.Plan(context.Background()); err == nil || !strings.Contains(err.Error(), `want "required /usr/local/lib/slurm/spank_pyxis.so container_scope=job runtime_path=/run/pyxis"`) {
		t.Fatalf("missing argument: %v", err)
	}
}

// Goroutines share one process, so flock (per open file) still serialises
// them; the cross-process test runs the real binary.
func TestPlugstackConcurrentConvergers(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/opt/slurm/etc/plugstack.conf", admin)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			step := plugstackStep(t, root)
			plan, err := step.Plan(context.Background())
			if err == nil && !plan.Done() {
				err = plan.Apply(context.Background())
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	main, _ := os.ReadFile(root + "/opt/slurm/etc/plugstack.conf")
	if n := strings.Count(string(main), "\ninclude "); n != 1 || !strings.HasPrefix(string(main), admin+"\n") {
		t.Fatalf("%d include lines:\n%s", n, main)
	}
}

// The plugstack's directory belongs to the head node's administrator: the
// agent adds its files but never changes the directory's mode.
func TestPlugstackLeavesAdminDirectoriesAlone(t *testing.T) {
	root := t.TempDir()
	step := plugstackStep(t, root)
	write(t, root+"/opt/slurm/etc/plugstack.conf", admin)
	testenv.MkdirAll(t, root+"/opt/slurm/etc/plugstack.conf.d", 0o775)
	os.Chmod(root+"/opt/slurm/etc", 0o750)
	os.Chmod(root+"/opt/slurm/etc/plugstack.conf.d", 0o775)
	os.Chmod(root+"/opt/slurm/etc/plugstack.conf", 0o640)
	plan, _ := step.Plan(context.Background())
	if err := plan.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	for path, mode := range map[string]os.FileMode{"/opt/slurm/etc": 0o750, "/opt/slurm/etc/plugstack.conf.d": 0o775, "/opt/slurm/etc/plugstack.conf": 0o640} {
		if st, _ := os.Stat(root + path); st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), mode)
		}
	}
}
