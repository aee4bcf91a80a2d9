package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
	fakeslurm "github.com/enroot-agent/enroot-agent/internal/fake/slurm"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/pyxis"
	"github.com/enroot-agent/enroot-agent/pkg/slurm"
)

// TestPlugstackRace runs 16 agents at once, each in its own root (a node),
// against one plugstack directory they all see at the same host path (the
// shared /opt/slurm). The plugin is prebuilt once; the runs only converge
// the plugstack. After every round: one include line, every admin line, a
// complete pyxis.conf, and srun still loads the plugin. Throughout, a
// watcher globs the drop-in directory the way Slurm does and must never see
// anything but a complete pyxis.conf.
func TestPlugstackRace(t *testing.T) {
	const nodes, rounds = 16, 20
	shared, lib := t.TempDir(), t.TempDir()
	builder := newPyxisNode(t, "")
	builder.apply(t)
	so, err := os.ReadFile(filepath.Join(builder.host, "lib/slurm", pyxis.PluginName))
	if err != nil {
		t.Fatal(err)
	}
	// srun on the "head node" reads the plugin at lib; so does each node.
	testenv.WriteFile(t, filepath.Join(lib, pyxis.PluginName), so, 0o644)
	cfg := fmt.Sprintf("pyxis:\n  install: false\n  plugstack: %s/plugstack.conf\n  libdir: %s\n  args: {container_scope: job}\n", shared, lib)
	roots := make([]string, nodes)
	for i := range roots {
		roots[i] = t.TempDir()
		inRoot := filepath.Join(roots[i], shared)
		testenv.MkdirAll(t, filepath.Dir(inRoot), 0o755)
		os.Symlink(shared, inRoot) // the NFS mount
		testenv.MkdirAll(t, filepath.Join(roots[i], lib), 0o755)
		testenv.WriteFile(t, filepath.Join(roots[i], lib, pyxis.PluginName), so, 0o644)
		testenv.MkdirAll(t, filepath.Join(roots[i], "etc/enroot-agent"), 0o755)
		testenv.WriteFile(t, filepath.Join(roots[i], "etc/enroot-agent/config.yaml"), []byte(cfg), 0o644)
	}
	slurmConf, _ := fakeslurm.Conf(shared, filepath.Join(shared, "plugstack.conf"))
	t.Setenv("SLURM_CONF", slurmConf) // for srun --help below
	env := append(awsFor(t).env, "SLURM_CONF="+slurmConf, "DBUS_SYSTEM_BUS_ADDRESS=unix:path="+filepath.Join(shared, "no-bus"))
	wantConf := string(pyxis.ConfContent(pyxis.Entry(lib, map[string]string{"container_scope": "job"})))
	bin := testenv.Binary(t)
	for round := range rounds {
		os.RemoveAll(filepath.Join(shared, "plugstack.conf.d"))
		testenv.WriteFile(t, filepath.Join(shared, "plugstack.conf"), []byte(adminLines), 0o644)
		stop := watchGlob(t, shared, wantConf)
		var wg sync.WaitGroup
		outs := make([]string, nodes)
		for i := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var out bytes.Buffer
				cmd := exec.Command(bin, "--root", roots[i], "apply")
				cmd.Env = env
				cmd.Stdout, cmd.Stderr = &out, &out
				_ = cmd.Run()
				outs[i] = out.String()
			}()
		}
		wg.Wait()
		if seen := stop(); seen != "" {
			t.Fatalf("round %d: the include glob saw %s", round, seen)
		}
		changed := 0
		for i, out := range outs {
			switch stepOutcomes(out)["pyxis-plugstack"] {
			case "changed":
				changed++
			case "done":
			default:
				t.Fatalf("round %d node %d:\n%s", round, i, out)
			}
		}
		main, _ := os.ReadFile(filepath.Join(shared, "plugstack.conf"))
		if strings.Count(string(main), "\ninclude ") != 1 || !strings.HasPrefix(string(main), adminLines) {
			t.Fatalf("round %d: main plugstack:\n%s", round, main)
		}
		if conf, _ := os.ReadFile(filepath.Join(shared, "plugstack.conf.d/pyxis.conf")); string(conf) != wantConf {
			t.Fatalf("round %d: pyxis.conf:\n%s", round, conf)
		}
		entries, _ := os.ReadDir(filepath.Join(shared, "plugstack.conf.d"))
		if len(entries) != 1 {
			t.Fatalf("round %d: left in plugstack.conf.d: %v", round, entries)
		}
		if help := slurmHelp(t, "srun"); !strings.Contains(help, pkgrepo.FixtureUsage) {
			t.Fatalf("round %d: srun --help lacks the option", round)
		}
		if round == 0 {
			t.Logf("round 0: %d of %d nodes edited, the rest found it done", changed, nodes)
		}
	}
}

// watchGlob reads the drop-in directory through Slurm's glob until stopped,
// and returns the first thing it saw that Slurm must never load: a file other
// than pyxis.conf, or a pyxis.conf with partial content.
func watchGlob(t *testing.T, shared, want string) func() string {
	ctx, cancel := context.WithCancel(context.Background())
	seen := make(chan string, 1)
	go func() {
		bad := ""
		for ctx.Err() == nil && bad == "" {
			matches, _ := slurm.Glob(config.Root("/"), filepath.Join(shared, "plugstack.conf.d/*.conf"))
			for _, m := range matches {
				data, err := os.ReadFile(m)
				if filepath.Base(m) != "pyxis.conf" || err == nil && string(data) != want {
					bad = fmt.Sprintf("%s holding %q", m, data)
				}
			}
		}
		seen <- bad
	}()
	return func() string { cancel(); return <-seen }
}
