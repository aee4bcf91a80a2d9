package install

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// On an EFA node the rendered enroot.conf never restricts /dev, even when
// the config asks for it (logged), and the enroot-conf check agrees with
// the step; on a node without EFA enroot.conf is exactly the config's.
func TestConfStepKeepsEFADevicesVisible(t *testing.T) {
	for _, tc := range []struct {
		name     string
		efa      bool
		mlx      bool
		set      string // enroot.conf.ENROOT_RESTRICT_DEV in the config
		want     string // its line in enroot.conf, "" for none
		warnings int
	}{
		{name: "no EFA", want: ""},
		{name: "no EFA, the config restricts", set: "yes", want: "ENROOT_RESTRICT_DEV yes"},
		{name: "a Mellanox adapter only", mlx: true, want: ""},
		{name: "EFA", efa: true, want: "ENROOT_RESTRICT_DEV no"},
		{name: "EFA, the config restricts", efa: true, set: "y", want: "ENROOT_RESTRICT_DEV no", warnings: 1},
		{name: "EFA, the config says no", efa: true, set: "false", want: "ENROOT_RESTRICT_DEV no"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.efa {
				if err := testenv.FakeEFA(root, 4); err != nil {
					t.Fatal(err)
				}
			}
			if tc.mlx {
				if err := testenv.FakeVerbs(root, "uverbs0", "0000:a0:00.0", "mlx5_core"); err != nil {
					t.Fatal(err)
				}
			}
			overrides := map[string]string{}
			if tc.set != "" {
				overrides["ENROOT_RESTRICT_DEV"] = tc.set
			}
			cfg := config.Default()
			cfg.Enroot.Conf = overrides
			core, logs := observer.New(zap.WarnLevel)
			step := &ConfStep{Node: &Node{Root: config.Root(root), Log: zap.New(core)}, Conf: MergeConf(overrides, cfg.Credentials.EnrootConfigPath)}
			run(t, step)
			data, err := os.ReadFile(filepath.Join(root, EnrootConfPath))
			if err != nil {
				t.Fatal(err)
			}
			var got string
			for _, line := range strings.Split(string(data), "\n") {
				if strings.HasPrefix(line, "ENROOT_RESTRICT_DEV") {
					got = line
				}
			}
			if got != tc.want {
				t.Fatalf("enroot.conf has %q, want %q:\n%s", got, tc.want, data)
			}
			if n := logs.FilterMessageSnippet("EFA devices").Len(); n != tc.warnings {
				t.Fatalf("%d warnings, want %d: %v", n, tc.warnings, logs.All())
			}
			if r := enrootConf(context.Background(), cfg, config.Root(root)); r.Status != verify.OK {
				t.Fatalf("enroot-conf check disagrees with the step: %+v", r)
			}
		})
	}
}
