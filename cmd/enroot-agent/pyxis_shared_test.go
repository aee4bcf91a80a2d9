package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/pyxis"
)

// TestPyxisSharedBuildRace runs the real binary on several nodes at once,
// each in its own root, whose /opt/slurm/lib is one host directory (the
// head node's /opt/slurm, NFS-mounted): pyxis.shared_dir keeps its
// default, /opt/slurm/lib/enroot-agent. One agent compiles Pyxis, under
// the shared lock, and publishes it; every other copies that build, so
// every node runs the same bytes, and verify says where each came from.
func TestPyxisSharedBuildRace(t *testing.T) {
	const nodes = 4
	base := testenv.RootOnlyDir(t) // the agent trusts nothing below /tmp
	lib := filepath.Join(base, "opt-slurm-lib")
	testenv.MkdirAll(t, lib, 0o755)
	builds := filepath.Join(t.TempDir(), "builds")
	roots := make([]string, nodes)
	var section string
	for i := range roots {
		root, err := os.MkdirTemp(base, "node-")
		if err != nil {
			t.Fatal(err)
		}
		_ = os.Chmod(root, 0o755)
		sec, _ := testenv.PyxisSandbox(t, root)
		if section == "" {
			section = sec // one tarball URL for all: it is part of the build's key
		}
		testenv.MkdirAll(t, filepath.Join(root, "opt/slurm/etc"), 0o755)
		if err := os.Symlink(lib, filepath.Join(root, "opt/slurm/lib")); err != nil {
			t.Fatal(err)
		}
		testenv.MkdirAll(t, filepath.Join(root, "etc/enroot-agent"), 0o755)
		roots[i] = root
	}
	for _, root := range roots {
		testenv.WriteFile(t, filepath.Join(root, "etc/enroot-agent/config.yaml"), []byte(section), 0o644)
	}
	env := append(awsFor(t).env, pkgrepo.BuildLogEnv+"="+builds, "DBUS_SYSTEM_BUS_ADDRESS=unix:path="+filepath.Join(base, "no-bus"))
	bin := testenv.Binary(t)
	outs := make([]string, nodes)
	var wg sync.WaitGroup
	for i, root := range roots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out bytes.Buffer
			cmd := exec.Command(bin, "--root", root, "apply")
			cmd.Env = env
			cmd.Stdout, cmd.Stderr = &out, &out
			_ = cmd.Run() // Enroot's steps fail here (no package source): only Pyxis's count
			outs[i] = out.String()
		}()
	}
	wg.Wait()
	data, _ := os.ReadFile(builds)
	published, copied := 0, 0
	var sum string
	for i, root := range roots {
		if o := stepOutcomes(outs[i])["pyxis-build"]; o != "changed" {
			t.Fatalf("node %d: pyxis-build %q\n%s", i, o, outs[i])
		}
		rec, err := pyxis.ReadRecord(config.Root(root), "/var/lib/enroot-agent")
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(rec.Origin, "built here and published to "+root+"/opt/slurm/lib/enroot-agent/pyxis-0.24.0-slurm-"):
			published++
		case strings.HasPrefix(rec.Origin, "copied from "+root+"/opt/slurm/lib/enroot-agent/pyxis-0.24.0-slurm-"):
			copied++
		default:
			t.Errorf("node %d: origin %q", i, rec.Origin)
		}
		got, err := atomicfile.SHA256(filepath.Join(root, "usr/local/lib/slurm", pyxis.PluginName))
		if err != nil || sum != "" && got != sum {
			t.Errorf("node %d: plugin %s %v, want every node's to be %s", i, got, err, sum)
		}
		sum = got
		if status, msg := checkResult(t, root, pyxis.CheckShared); status != "ok" || !strings.Contains(msg, "this node's plugin is that build") {
			t.Errorf("node %d: %s %s: %s", i, pyxis.CheckShared, status, msg)
		}
	}
	if n := strings.Count(string(data), "built\n"); n != 1 || published != 1 || copied != nodes-1 {
		t.Fatalf("%d compiles, %d nodes published, %d copied; want 1, 1, %d\n%s", n, published, copied, nodes-1, strings.Join(outs, "\n"))
	}
}
