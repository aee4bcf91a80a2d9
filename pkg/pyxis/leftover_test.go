package pyxis

import (
	"context"
	"os"
	"testing"
	"time"
)

// A node killed (-9) in the middle of writing pyxis.conf leaves a hidden
// temp file in the shared plugstack.conf.d; the next apply removes it.
func TestPlugstackApplyRemovesLeftoverTempFile(t *testing.T) {
	root := t.TempDir()
	step := plugstackStep(t, root)
	write(t, root+"/opt/slurm/etc/plugstack.conf", admin)
	ctx := context.Background()
	plan, err := step.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := plan.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	leftover := root + "/opt/slurm/etc/plugstack.conf.d/.pyxis.conf.tmp-0a1b2c3d4e5f"
	write(t, leftover, "required /usr/local/lib/slurm/spank_pyxis.so")
	old := time.Now().Add(-time.Hour)
	os.Chtimes(leftover, old, old)
	plan, err = step.Plan(ctx)
	if err != nil || plan.Done() {
		t.Fatalf("a leftover temp file counted as converged: %+v %v", plan, err)
	}
	if err := plan.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatalf("the leftover is still there: %v", err)
	}
	if plan, err := step.Plan(ctx); err != nil || !plan.Done() {
		t.Fatalf("not converged after apply: %+v %v", plan, err)
	}
}
