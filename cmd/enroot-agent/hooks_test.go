package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkResult runs `verify --local --json` in root and returns one check.
func checkResult(t *testing.T, root, name string) (status, message string) {
	t.Helper()
	out, errOut, _ := runAgent(t, "--root", root, "verify", "--local", "--json")
	var rep struct {
		Checks []struct{ Name, Status, Message string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("verify --json: %v\n%s\n%s", err, out, errOut)
	}
	for _, c := range rep.Checks {
		if c.Name == name {
			return c.Status, c.Message
		}
	}
	t.Fatalf("verify has no check %s:\n%s", name, out)
	return "", ""
}

// apply keeps Enroot's two Slurm hooks in /etc/enroot/hooks.d, copied from
// the package it installed; turning one off in the config removes it.
func TestApplyKeepsEnrootsSlurmHooks(t *testing.T) {
	root := sandbox(t)
	out, errOut, code := runAgent(t, "--root", root, "apply")
	if code != 0 || !strings.Contains(out, "enroot-hooks") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	dir := filepath.Join(root, "etc/enroot/hooks.d")
	for _, name := range []string{"50-slurm-pmi.sh", "50-slurm-pytorch.sh"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !strings.Contains(string(data), "# enroot-agent: copied from /usr/share/enroot/hooks.d/"+name) {
			t.Fatalf("%s after apply: %v\n%s", name, err, data)
		}
	}
	if status, msg := checkResult(t, root, "enroot-hooks"); status != "ok" || !strings.Contains(msg, "50-slurm-pmi.sh, 50-slurm-pytorch.sh") {
		t.Fatalf("enroot-hooks: %s %s", status, msg)
	}

	cfg := filepath.Join(root, "etc/enroot-agent/config.yaml")
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, append(data, "enroot:\n  hooks: {50-slurm-pytorch.sh: false}\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runAgent(t, "--root", root, "apply", "--dry-run")
	if code != 0 || !strings.Contains(out, "would remove "+filepath.Join(dir, "50-slurm-pytorch.sh")) {
		t.Fatalf("dry run with the PyTorch hook off: exit %d\n%s\n%s", code, out, errOut)
	}
	if out, errOut, code = runAgent(t, "--root", root, "apply"); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "50-slurm-pytorch.sh")); !os.IsNotExist(err) {
		t.Fatalf("the PyTorch hook is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "50-slurm-pmi.sh")); err != nil {
		t.Fatalf("the PMI hook went too: %v", err)
	}
}
