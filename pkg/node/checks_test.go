package node

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
	root, cfg := sandbox(t)
	n := New(cfg, config.Root(root), zap.NewNop(), nil)
	ctx := context.Background()
	before := verify.RunAll(ctx, n.Checks())
	if len(before) == 0 || verify.Overall(before) != verify.Fail {
		t.Fatalf("unconverged node: %+v", before)
	}
	if !strings.Contains(before[0].Message, "state-dir not converged: directory missing") || before[0].Fix == "" {
		t.Fatalf("message %+v", before[0])
	}
	if rep := (&converge.Runner{Log: zap.NewNop()}).Run(ctx, n.Steps()); rep.Err() != nil {
		t.Fatal(rep.Err())
	}
	after := verify.RunAll(ctx, n.Checks())
	for _, r := range after[:len(n.Steps())] {
		if r.Status != verify.OK {
			t.Errorf("after apply: %s", r)
		}
	}
	// A path the step cannot inspect is "cannot tell", not "broken".
	os.RemoveAll(filepath.Join(root, "var"))
	testenv.WriteFile(t, filepath.Join(root, "var"), nil, 0o644)
	if r := verify.RunAll(ctx, n.Checks())[0]; r.Status != verify.Unknown {
		t.Fatalf("unplannable step: %s", r)
	}
}

// Assemble orders the checks steps, credentials, domain, and only the
// first two kinds start a repair.
func TestAssembleOrderAndRepairable(t *testing.T) {
	check := func(name string) verify.Check {
		return verify.Func{CheckName: name, Fn: func(context.Context) verify.Result { return verify.Ok(name) }}
	}
	dir := t.TempDir()
	n := Assemble(Parts{
		Steps:       []converge.Step{&converge.Dir{StepName: "a", Path: dir}, &converge.Dir{StepName: "b", Path: dir}},
		Credentials: []verify.Check{check("credentials-file")},
		Domain:      []verify.Check{check("pyxis-plugin")},
	})
	var names []string
	for _, c := range n.Checks() {
		names = append(names, c.Name())
	}
	if got, want := strings.Join(names, ","), "step a,step b,credentials-file,pyxis-plugin"; got != want {
		t.Errorf("checks %s, want %s", got, want)
	}
	for name, want := range map[string]bool{"step a": true, "step b": true, "credentials-file": true, "pyxis-plugin": false} {
		if n.Repairable()[name] != want {
			t.Errorf("repairable[%s] = %v, want %v", name, !want, want)
		}
	}
	if !n.Credentials()["credentials-file"] || len(n.Credentials()) != 1 {
		t.Errorf("credentials checks %v", n.Credentials())
	}
}

// The drain reason and STATUS= name the cause a job would meet: a domain
// check before the step check that only follows from it.
func TestRootCause(t *testing.T) {
	r := func(name string, st verify.Status) verify.Result { return verify.Result{Name: name, Status: st} }
	cases := []struct {
		results []verify.Result
		want    string
	}{
		{[]verify.Result{r("step pyxis-fetch", verify.Fail), r("credentials-tokens", verify.OK), r("pyxis-plugin", verify.Fail)}, "pyxis-plugin"},
		{[]verify.Result{r("step pyxis-build", verify.Fail), r("step pyxis-plugstack", verify.Fail)}, "step pyxis-build"},
		{[]verify.Result{r("slurm-memlock", verify.Unknown), r("step enroot-conf", verify.Fail)}, "step enroot-conf"},
		{[]verify.Result{r("step enroot-conf", verify.Unknown), r("slurm-memlock", verify.Unknown)}, "slurm-memlock"},
		{[]verify.Result{r("pyxis-plugin", verify.OK)}, ""},
	}
	for _, c := range cases {
		if got := RootCause(c.results); got != c.want {
			t.Errorf("RootCause(%v) = %q, want %q", c.results, got, c.want)
		}
	}
}

// sandbox is a node root with the Pyxis sandbox's packages and its config.
func sandbox(t *testing.T) (string, config.Config) {
	t.Helper()
	root := testenv.NodeRoot(t)
	pyxisYAML, _ := testenv.PyxisSandbox(t, root)
	cfg, err := config.Parse("sandbox.yaml", []byte(pyxisYAML))
	if err != nil {
		t.Fatal(err)
	}
	return root, cfg
}
