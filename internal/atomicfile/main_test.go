package atomicfile

import (
	"os"
	"testing"
)

// TestMain is also the crash tests' child: with ATOMICFILE_CRASH_TARGET set
// the test binary runs crashBeforeRename instead of the tests, so the child
// can never be counted as a test that passed.
func TestMain(m *testing.M) {
	if target := os.Getenv(crashEnv); target != "" {
		crashBeforeRename(target)
	}
	os.Exit(m.Run())
}
