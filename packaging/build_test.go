// Package packaging holds the rpm and deb recipes, the default config
// generator and the ParallelCluster bootstrap; its tests build the real
// packages with `make rpm deb` and install them into scratch roots.
package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/fake"
)

// pkgs are the packages `make rpm deb` built once for this test process.
type pkgs struct {
	rpm, deb         string
	version, release string
	bin              string // the packaged binary, unpacked
}

var (
	buildOnce sync.Once
	built     pkgs
	buildErr  string
	distDir   string // removed when the tests end
)

func TestMain(m *testing.M) {
	code := m.Run()
	if distDir != "" {
		os.RemoveAll(distDir)
	}
	os.Exit(code)
}

// packages runs `make rpm deb` once, into a temp DIST, exactly as a release
// build does: static binary, generated config, staged by the manifest.
func packages(t *testing.T) pkgs {
	t.Helper()
	buildOnce.Do(func() {
		for _, tool := range []string{"rpmbuild", "dpkg-deb", "make", "git"} {
			if _, err := exec.LookPath(tool); err != nil {
				buildErr = tool + " is missing: apt-get install rpm dpkg make git (scripts/test-deps.sh)"
				return
			}
		}
		dist, err := os.MkdirTemp("", "enroot-agent-dist-")
		if err != nil {
			buildErr = err.Error()
			return
		}
		distDir = dist
		ver, err := exec.Command(filepath.Join(fake.ModuleRoot(), "packaging/version.sh")).Output()
		if f := strings.Fields(string(ver)); err != nil || len(f) != 2 {
			buildErr = "packaging/version.sh: " + string(ver)
			return
		} else {
			built.version, built.release = f[0], f[1]
		}
		cmd := exec.Command("make", "--no-print-directory", "rpm", "deb", "ARCH="+rpmArch, "DIST="+dist,
			"GO="+fake.GoTool())
		cmd.Dir = fake.ModuleRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = "make rpm deb: " + err.Error() + "\n" + string(out)
			return
		}
		built.rpm = filepath.Join(dist, "enroot-agent-"+built.version+"-"+built.release+"."+rpmArch+".rpm")
		built.deb = filepath.Join(dist, "enroot-agent_"+built.version+"-"+built.release+"_"+debArch+".deb")
		// The binary as shipped, so tests need no second build of their own.
		unpacked := filepath.Join(dist, "unpacked")
		if out, err := exec.Command("dpkg-deb", "-x", built.deb, unpacked).CombinedOutput(); err != nil {
			buildErr = "dpkg-deb -x: " + err.Error() + "\n" + string(out)
			return
		}
		built.bin = filepath.Join(unpacked, "usr/bin/enroot-agent")
	})
	if buildErr != "" {
		t.Fatal(buildErr)
	}
	return built
}

// Names of this machine's architecture in rpm and Debian terms.
var rpmArch, debArch = map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH], runtime.GOARCH

// run runs a command and fails the test with its output when it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
