package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"go.uber.org/zap"
)

func TestStepChecksFollowConverge(t *testing.T) {
	root := testenv.NodeRoot(t)
	pyxisYAML, _ := testenv.PyxisSandbox(t, root)
	cfg, err := config.Parse("sandbox.yaml", []byte(pyxisYAML))
	if err != nil {
		t.Fatal(err)
	}
	env := NewEnv(cfg, config.Root(root), zap.NewNop())
	ctx := context.Background()
	before := verify.RunAll(ctx, Checks(env))
	if len(before) == 0 || verify.Overall(before) != verify.Fail {
		t.Fatalf("unconverged node: %+v", before)
	}
	if !strings.Contains(before[0].Message, "state-dir not converged: directory missing") || before[0].Fix == "" {
		t.Fatalf("message %+v", before[0])
	}
	if rep := (&converge.Runner{Log: zap.NewNop()}).Run(ctx, Steps(env)); rep.Err() != nil {
		t.Fatal(rep.Err())
	}
	after := verify.RunAll(ctx, Checks(env))
	for _, r := range after[:len(Steps(env))] {
		if r.Status != verify.OK {
			t.Errorf("after apply: %s", r)
		}
	}
	// A path the step cannot inspect is "cannot tell", not "broken".
	os.RemoveAll(filepath.Join(root, "var"))
	testenv.WriteFile(t, filepath.Join(root, "var"), nil, 0o644)
	if r := verify.RunAll(ctx, Checks(env))[0]; r.Status != verify.Unknown {
		t.Fatalf("unplannable step: %s", r)
	}
}
