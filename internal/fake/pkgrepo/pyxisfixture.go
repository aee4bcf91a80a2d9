package pkgrepo

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// FixtureOption is the option the fixture plugin registers, as Pyxis does,
// so that it shows in srun, sbatch and salloc --help.
const FixtureOption = "--container-image"

// FixtureUsage is the fixture option's help text: tests look for it to
// know it is the fixture they built, not a Pyxis already on the machine.
const FixtureUsage = "enroot-agent test fixture: image to run in"

// FixtureEnv is set in a job's tasks to the --container-image value, by
// the plugin as loaded by slurmstepd.
const FixtureEnv = "PYXIS_FIXTURE_IMAGE"

// BuildLogEnv names a file the fixture's Makefile appends one line to per
// compile, so tests can count builds.
const BuildLogEnv = "PYXIS_FIXTURE_BUILD_LOG"

// fixtureC is a tiny SPANK plugin: it registers one option with
// spank_option_register (the static spank_options table would reach only
// srun), and refuses unknown plugstack arguments like Pyxis's config.c.
const fixtureC = `#include <stdio.h>
#include <string.h>
#include <slurm/spank.h>

#ifndef FIXTURE_MAKEFILE_FLAGS
#error "the Makefile's own CPPFLAGS were replaced: pass CPPFLAGS in the environment"
#endif

SPANK_PLUGIN(pyxis, 1);

static char image[256];

/* Runs in srun, and again in slurmstepd with the option the job carries. */
static int image_cb(int val, const char *optarg, int remote)
{
	snprintf(image, sizeof(image), "%s", optarg ? optarg : "");
	return 0;
}

static struct spank_option image_opt = {
	"container-image", "IMAGE", "` + FixtureUsage + `", 1, 0, image_cb,
};

int slurm_spank_init(spank_t sp, int ac, char **av)
{
	for (int i = 0; i < ac; ++i) {
		if (strncmp(av[i], "runtime_path=", 13) && strncmp(av[i], "container_scope=", 16)) {
			slurm_error("pyxis: unknown configuration option: %s", av[i]);
			return -1;
		}
	}
	return spank_option_register(sp, &image_opt);
}

/* Proof, inside the job, that slurmstepd loaded the plugin and got the option. */
int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
	if (image[0])
		spank_setenv(sp, "` + FixtureEnv + `", image, 1);
	return 0;
}
`

// fixtureMakefile honours what Pyxis's Makefile honours: prefix, libdir,
// DESTDIR, and CPPFLAGS appended to its own flags.
const fixtureMakefile = `prefix ?= /usr/local
libdir ?= $(prefix)/lib
PLUGINDIR := $(abspath $(DESTDIR)/$(libdir)/slurm)
CPPFLAGS := -D_GNU_SOURCE -DFIXTURE_MAKEFILE_FLAGS $(CPPFLAGS)
CFLAGS := -std=gnu11 -O2 -Wall -fpic $(CFLAGS)

all: spank_pyxis.so

spank_pyxis.so: pyxis.c
	$(CC) $(CFLAGS) $(CPPFLAGS) -shared -o $@ $<
	if [ -n "$$` + BuildLogEnv + `" ]; then echo built >> "$$` + BuildLogEnv + `"; fi

install: all
	install -d -m 755 $(PLUGINDIR)
	install -m 644 spank_pyxis.so $(PLUGINDIR)
`

// PyxisTarball writes dir/pyxis-<version>.tar.gz, laid out like NVIDIA's tag
// tarball (one top directory pyxis-<version>/), and returns its path and
// sha256.
func PyxisTarball(dir, version string) (string, string, error) {
	path := filepath.Join(dir, "pyxis-"+version+".tar.gz")
	f, err := os.Create(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	h := sha256.New()
	gz := gzip.NewWriter(io.MultiWriter(f, h))
	tw := tar.NewWriter(gz)
	top := "pyxis-" + version + "/"
	mtime := time.Unix(1700000000, 0)
	if err := tw.WriteHeader(&tar.Header{Name: top, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime}); err != nil {
		return "", "", err
	}
	for name, body := range map[string]string{"pyxis.c": fixtureC, "Makefile": fixtureMakefile} {
		hdr := &tar.Header{Name: top + name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), ModTime: mtime}
		if err := tw.WriteHeader(hdr); err != nil {
			return "", "", err
		}
		if _, err := strings.NewReader(body).WriteTo(tw); err != nil {
			return "", "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", "", err
	}
	if err := gz.Close(); err != nil {
		return "", "", err
	}
	return path, hex.EncodeToString(h.Sum(nil)), nil
}

// PyxisSandbox prepares root (an agent --root) so the agent's Pyxis steps
// converge in it against this machine's real Slurm: Slurm's headers, srun
// and scontrol appear under root/usr (symlinks to Debian's libslurm-dev and
// slurm-client), and the fixture tarball, built in work, is put on srv. It
// returns the config's pyxis section. The caller aims the system bus at a
// socket that does not exist (testenv.PyxisSandbox does), so no test can
// ever restart a real slurmd.
func PyxisSandbox(root, work string, srv *ArtifactServer) (string, error) {
	for path, pkg := range map[string]string{"/usr/include/slurm/spank.h": "libslurm-dev", "/usr/bin/srun": "slurm-client (slurm-wlm)", "/usr/bin/cc": "build-essential"} {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("%s is missing: install the Debian package %s (scripts/test-deps.sh)", path, pkg)
		}
	}
	for link, target := range map[string]string{root + "/usr/include": "/usr/include", root + "/usr/bin/srun": "/usr/bin/srun",
		root + "/usr/bin/scontrol": "/usr/bin/scontrol"} {
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return "", err
		}
		if err := os.Symlink(target, link); err != nil {
			return "", err
		}
	}
	tarball, sum, err := PyxisTarball(work, "0.24.0")
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(tarball)
	if err != nil {
		return "", err
	}
	srv.Put("v0.24.0.tar.gz", data)
	return fmt.Sprintf("pyxis:\n  source: %sv{version}.tar.gz\n  sha256: %s\n  slurm_prefix: /usr\n", srv.URL, sum), nil
}
