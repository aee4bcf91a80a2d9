package config

import (
	"strings"
	"testing"
)

func TestPyxisArgs(t *testing.T) {
	in := `pyxis:
  version: "0.20.0"
  args:
    runtime_path: /run/pyxis
    container_scope: node
    execute_entrypoint: maybe
    sbatch_support: true
    use_enroot_load: 0
    importer: /usr/local/bin/importer
    use_squashfuse: 1
    mount_home: 1
    runtime_path2: "/a b"
`
	_, err := Parse("c.yaml", []byte(in))
	want := []string{
		`c.yaml:5: pyxis.args.container_scope: "node" is not one of global, job`,
		`c.yaml:6: pyxis.args.execute_entrypoint: "maybe" is not a Pyxis boolean (1, true, yes, y, 0, false, no or n)`,
		`c.yaml:9: pyxis.args.importer: needs Pyxis 0.21.0 or newer; pyxis.version is 0.20.0`,
		`c.yaml:10: pyxis.args.use_squashfuse: needs Pyxis 0.22.0 or newer; pyxis.version is 0.20.0`,
		`c.yaml:11: pyxis.args.mount_home: Pyxis has no argument "mount_home", and an unknown argument makes every srun on the node fail (known: container_scope, execute_entrypoint, importer, runtime_path, sbatch_support, use_enroot_load, use_squashfuse)`,
		`c.yaml:12: pyxis.args.runtime_path2: Pyxis has no argument "runtime_path2"`,
	}
	if err == nil {
		t.Fatal("no error")
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), err)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d:\n got  %s\n want %s", i, got[i], want[i])
		}
	}
}

func TestPyxisArgsGood(t *testing.T) {
	in := "pyxis:\n  args:\n    runtime_path: /run/pyxis\n    container_scope: job\n    importer: /opt/imp\n    use_squashfuse: \"yes\"\n"
	_, err := Parse("c.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse("c.yaml", []byte("pyxis:\n  args:\n    runtime_path: \"/run/p#x\"\n"))
	if err == nil || !strings.Contains(err.Error(), "c.yaml:3: pyxis.args.runtime_path: \"/run/p#x\" holds a blank or '#'") {
		t.Fatalf("err = %v", err)
	}
}

func TestPyxisSharedDir(t *testing.T) {
	if c, err := Parse("c.yaml", []byte("pyxis:\n  shared_dir: \"\"\n")); err != nil || c.Pyxis.SharedDir != "" {
		t.Fatalf("turned off: %q %v", c.Pyxis.SharedDir, err)
	}
	if c, err := Parse("c.yaml", nil); err != nil || c.Pyxis.SharedDir != "/opt/slurm/lib/enroot-agent" {
		t.Fatalf("default: %q %v", c.Pyxis.SharedDir, err)
	}
	for in, want := range map[string]string{
		"pyxis:\n  shared_dir: fsx/pyxis\n":                      `c.yaml:2: pyxis.shared_dir: "fsx/pyxis" is not an absolute path`,
		"pyxis:\n  shared_dir: /usr/local/lib/slurm\n":           `c.yaml:2: pyxis.shared_dir: "/usr/local/lib/slurm" overlaps pyxis.libdir "/usr/local/lib/slurm"`,
		"pyxis:\n  libdir: /fsx/lib/slurm\n  shared_dir: /fsx\n": `c.yaml:3: pyxis.shared_dir: "/fsx" overlaps pyxis.libdir "/fsx/lib/slurm"`,
		"pyxis:\n  shared_dir: /usr/local/lib/slurm/shared\n":    `overlaps pyxis.libdir`,
	} {
		_, err := Parse("c.yaml", []byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
	if _, err := Parse("c.yaml", []byte("pyxis:\n  shared_dir: /usr/local/lib/slurm-shared\n")); err != nil {
		t.Errorf("a sibling named like libdir: %v", err)
	}
}
