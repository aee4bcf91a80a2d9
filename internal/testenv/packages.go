package testenv

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
)

// StartArtifactServer is pkgrepo.StartArtifactServer.
func StartArtifactServer(t testing.TB) *pkgrepo.ArtifactServer {
	t.Helper()
	s, err := pkgrepo.StartArtifactServer()
	return started(t, s, err)
}

// EnrootDebs is pkgrepo.BuildEnrootDebs in a directory of the test's,
// returning name -> content.
func EnrootDebs(t testing.TB, version string) map[string][]byte {
	t.Helper()
	paths, err := pkgrepo.BuildEnrootDebs(t.TempDir(), version)
	if err != nil {
		t.Fatal(err)
	}
	return readAll(t, paths)
}

// EnrootRPMs is pkgrepo.BuildEnrootRPMs in a directory of the test's,
// returning name -> content.
func EnrootRPMs(t testing.TB, version string) map[string][]byte {
	t.Helper()
	paths, err := pkgrepo.BuildEnrootRPMs(t.TempDir(), version)
	if err != nil {
		t.Fatal(err)
	}
	return readAll(t, paths)
}

// RPMRoot is pkgrepo.MakeRPMRoot in a directory of the test's.
func RPMRoot(t testing.TB) string { t.Helper(); return RPMRootLacking(t) }

// RPMRootLacking is pkgrepo.MakeRPMRootLacking in a directory of the test's.
func RPMRootLacking(t testing.TB, lacking ...string) string {
	t.Helper()
	root := t.TempDir()
	if err := pkgrepo.MakeRPMRootLacking(root, t.TempDir(), lacking...); err != nil {
		t.Fatal(err)
	}
	return root
}

// DebRoot is pkgrepo.MakeDebRoot in a directory of the test's.
func DebRoot(t testing.TB) string { t.Helper(); return DebRootLacking(t) }

// DebRootLacking is pkgrepo.MakeDebRootLacking in a directory of the test's.
func DebRootLacking(t testing.TB, lacking ...string) string {
	t.Helper()
	root := t.TempDir()
	if err := pkgrepo.MakeDebRootLacking(root, lacking...); err != nil {
		t.Fatal(err)
	}
	return root
}

// NodeRoot is pkgrepo.MakeNodeRoot in a directory of the test's.
func NodeRoot(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	if err := pkgrepo.MakeNodeRoot(root, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	return root
}

// PyxisSandbox is pkgrepo.PyxisSandbox with an artifact server of the
// test's, and the system bus aimed, for the rest of the test, at a socket
// that does not exist, so no test can ever restart a real slurmd. It
// returns the config's pyxis section and the artifact server.
func PyxisSandbox(t testing.TB, root string) (string, *pkgrepo.ArtifactServer) {
	t.Helper()
	srv := StartArtifactServer(t)
	section, err := pkgrepo.PyxisSandbox(root, t.TempDir(), srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+filepath.Join(root, "no-system-bus"))
	return section, srv
}

func readAll(t testing.TB, paths map[string]string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for name, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = data
	}
	return out
}
