package images

import (
	"context"
	"fmt"
	"os"
	"testing"
)

// victimEnv names the cache directory of the node TestKilledImporterIsTakenOver
// kills mid-import.
const victimEnv = "IMAGES_VICTIM_DIR"

// TestMain is also that node: with victimEnv set, the test binary imports
// into the directory until it is killed, and never runs the tests, so the
// child cannot be counted as a test that passed.
func TestMain(m *testing.M) {
	if dir := os.Getenv(victimEnv); dir != "" {
		os.Exit(victim(dir))
	}
	os.Exit(m.Run())
}

func victim(dir string) int {
	c, err := newTestCache(dir, "victim")
	if err == nil {
		_, err = c.Get(context.Background(), testImage, testDigest(2))
	}
	fmt.Fprintf(os.Stderr, "the victim finished instead of being killed: %v\n", err)
	return 2
}
