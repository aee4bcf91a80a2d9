package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// runAgent runs the real binary and returns its stdout, stderr and exit code.
func runAgent(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t), args...)
	cmd.Env = awsFor(t).env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// sandbox is a --root in which every step can converge: the config at the
// default path aims each domain at its local stand-in.
func sandbox(t *testing.T) string {
	t.Helper()
	return sandboxAt(t, testenv.NodeRoot(t))
}

// sandboxAt is sandbox in root, a node root made by pkgrepo.MakeNodeRoot.
func sandboxAt(t *testing.T, root string) string {
	t.Helper()
	pyxisYAML, _ := testenv.PyxisSandbox(t, root)
	cfg := filepath.Join(root, "etc/enroot-agent/config.yaml")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(pyxisYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestApplyTwiceChangesNothing(t *testing.T) {
	root := sandbox(t)
	out, errOut, code := runAgent(t, "--root", root, "apply")
	if code != 0 || !strings.Contains(out, "changed") {
		t.Fatalf("first apply: code %d\n%s\n%s", code, out, errOut)
	}
	before := testenv.Snapshot(t, root)
	out, errOut, code = runAgent(t, "--root", root, "apply")
	if code != 0 {
		t.Fatalf("second apply: code %d\n%s\n%s", code, out, errOut)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(line, "✓ ") || !strings.HasSuffix(line, " done") {
			t.Errorf("second apply did something: %q", line)
		}
	}
	if touched := testenv.Changed(before, testenv.Snapshot(t, root)); len(touched) > 0 {
		t.Fatalf("second apply touched %v", touched)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	root := sandbox(t)
	before := testenv.Snapshot(t, root)
	out, _, code := runAgent(t, "--root", root, "apply", "--dry-run")
	if code != 0 || !strings.Contains(out, "would mkdir "+root+"/var/lib/enroot-agent") {
		t.Fatalf("dry run: code %d\n%s", code, out)
	}
	if touched := testenv.Changed(before, testenv.Snapshot(t, root)); len(touched) > 0 {
		t.Fatalf("dry run changed the sandbox: %v", touched)
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	testenv.WriteFile(t, bad, []byte(`enroot:
  version: "3.4.1"
  flavour: caps
pyxis:
  libdir: lib/slurm
ecr:
  registries: [123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example]
  refresh_interval: 6x
`), 0o644)
	_, errOut, code := runAgent(t, "--config", bad, "validate")
	if code != 1 {
		t.Fatalf("bad config: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{bad + ":2: enroot.version", bad + ":3: enroot.flavour", bad + ":5: pyxis.libdir", bad + ":7: ecr.registries[0]", bad + ":8: ecr.refresh_interval"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("missing %q in:\n%s", want, errOut)
		}
	}
	empty := filepath.Join(dir, "empty.yaml")
	testenv.WriteFile(t, empty, nil, 0o644)
	if out, errOut, code := runAgent(t, "--config", empty, "validate"); code != 0 {
		t.Fatalf("empty config: exit %d\n%s%s", code, out, errOut)
	}
	if _, _, code := runAgent(t, "--config", filepath.Join(dir, "missing.yaml"), "validate"); code != 1 {
		t.Fatalf("a missing explicit config must fail, got %d", code)
	}
	if _, _, code := runAgent(t, "--root", dir, "validate"); code != 0 {
		t.Fatalf("no config at the default path must mean defaults, got %d", code)
	}
}

func TestUnknownCommand(t *testing.T) {
	if _, _, code := runAgent(t, "frobnicate"); code != 2 {
		t.Errorf("unknown command exit %d", code)
	}
}
